//! Tar archives for uploads into containers: modes and owners set per file.

use std::path::Path;

use anyhow::{Context, Result};

/// A file to put in an archive.
pub struct Entry<'a> {
    pub path: &'a str,
    pub contents: &'a [u8],
    pub mode: u32,
    pub uid: u64,
}

/// A tar of `entries`, directories created as needed (mode 0755, owned like their files).
pub fn from_entries(entries: &[Entry<'_>]) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut dirs: Vec<String> = Vec::new();
    for e in entries {
        let mut prefix = String::new();
        for part in Path::new(e.path).parent().into_iter().flat_map(|p| p.iter()) {
            prefix = format!("{prefix}{}/", part.to_string_lossy());
            if !dirs.contains(&prefix) {
                let mut header = tar::Header::new_gnu();
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_uid(e.uid);
                header.set_gid(e.uid);
                header.set_size(0);
                builder.append_data(&mut header, &prefix, std::io::empty())?;
                dirs.push(prefix.clone());
            }
        }
        let mut header = tar::Header::new_gnu();
        header.set_mode(e.mode);
        header.set_uid(e.uid);
        header.set_gid(e.uid);
        header.set_size(e.contents.len() as u64);
        builder.append_data(&mut header, e.path, e.contents).with_context(|| format!("archive {}", e.path))?;
    }
    Ok(builder.into_inner()?)
}

/// A tar of the directory `dir`'s contents under the folder `prefix` (symlinks kept).
pub fn from_dir(dir: &Path, prefix: &str) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    builder.append_dir_all(prefix, dir).with_context(|| format!("archive {}", dir.display()))?;
    Ok(builder.into_inner()?)
}
