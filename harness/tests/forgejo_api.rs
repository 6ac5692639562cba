//! The Forgejo API client against a local HTTP server that implements the documented
//! endpoints with their quirks (a fake, named as such: no real Forgejo can be built here).
//! It honours what it is sent: tokens only by basic auth and returned in `sha1`, 403 while
//! an account must change its password, repositories named and made public or private by
//! the request body (409 on a duplicate), runs listed under `workflow_runs` with the
//! documented status values, job logs on a web route that serves public repositories only,
//! several jobs per run. For the real runner's path it grows a real `git http-backend`
//! behind it (pushes need basic auth with the token; a repository named `locked` refuses
//! them), and every push that moves `main` creates a run with one job per job of the
//! pushed workflows, read from the pushed commit, whose statuses advance as they are
//! polled and whose logs name the job and the commit. For the real path's faults: a
//! repository named `nobody*` has runs no runner ever takes (no tasks, but the run's web
//! page), a job named `*sleep*` runs until the deadline printing its `sleeping` marker,
//! and the whole fake can be stopped mid-run (its connections refused from then on); in a
//! repository named `late*` a runner takes a job only at the third poll.

mod fake_forgejo;

use std::time::Duration;

use fake_forgejo::{PUSH_AUTH, SHA, TOKEN, commit, fake_forgejo, forget, git, stop, workspace};
use harness::failure::Failed;
use harness::forge::dialect::{Forgejo, Scope};
use harness::forge::{Auth, Forge, RunStatus, Task, push};

#[tokio::test]
async fn admin_token_repo_registration_run_and_logs_of_two_jobs() {
    let (base, state) = fake_forgejo(&[]).await;
    let anon = Forge::new(&Forgejo, &base, Auth::None);
    assert_eq!(anon.wait_ready(Duration::from_secs(10)).await.expect("ready"), "12.0.1+gitea-1.22.0");

    let basic = anon.with_auth(Auth::Basic { user: "e2e-admin".into(), password: "secret".into() });
    let token =
        basic.create_token("e2e-admin", "forgejo-e2e", &["write:repository", "write:admin"]).await.expect("token");
    assert_eq!(token, TOKEN);

    let api = anon.with_auth(Auth::Token(token));
    assert_eq!(api.create_repo("docker-build").await.expect("repo"), "e2e-admin/docker-build");
    // The fake stored what the body asked for: that name, public.
    assert_eq!(state.lock().expect("state").repos.get("docker-build"), Some(&false));
    assert_eq!(api.registration_token(Scope::Instance).await.expect("registration"), "REGISTRATION-TOKEN");

    // No run yet, then it walks waiting -> running -> success; another commit's run is ignored.
    let run = api.wait_for_run("e2e-admin", "docker-build", SHA, Duration::from_secs(30)).await.expect("run");
    assert_eq!((run.id, run.run_number(), run.status()), (91, 7, RunStatus::Success));
    assert!(state.lock().expect("state").polls >= 4, "polled through every state");
    let first = api.job_log("e2e-admin", "docker-build", &run, 0).await.expect("log 0");
    assert!(first.contains("E2E-MARK n built_image_says=hello from docker-build"), "{first}");
    let second = api.job_log("e2e-admin", "docker-build", &run, 1).await.expect("log 1");
    assert!(second.contains("second_job=yes") && !second.contains("built_image_says"), "{second}");
    let err = api.job_log("e2e-admin", "docker-build", &run, 2).await.expect_err("no third job");
    assert!(err.to_string().contains("HTTP 404"), "{err}");
    forget(&state);
}

#[tokio::test]
async fn a_duplicate_repository_and_a_private_repositorys_log_are_clear_errors() {
    let (base, _) = fake_forgejo(&[("volumes", false), ("secret-repo", true)]).await;
    let api = Forge::new(&Forgejo, &base, Auth::Token(TOKEN.into()));
    let err = api.create_repo("volumes").await.expect_err("409");
    assert!(err.to_string().starts_with("repository volumes already exists on this Forgejo"), "{err}");
    let err = api
        .job_log(
            "e2e-admin",
            "secret-repo",
            &Task {
                id: 1,
                name: String::new(),
                head_sha: String::new(),
                run_number: 7,
                status: String::new(),
                failed_step: None,
                labels: Vec::new(),
                runner: None,
            },
            0,
        )
        .await
        .expect_err("private");
    assert!(err.to_string().contains("not public"), "{err}");
    let err = api.tasks("e2e-admin", "no-such-repo").await.expect_err("unknown repo");
    assert!(err.to_string().contains("HTTP 404"), "{err}");
}

#[tokio::test]
async fn must_change_password_and_missing_token_are_clear_errors() {
    let (base, _) = fake_forgejo(&[]).await;
    let basic = Forge::new(&Forgejo, &base, Auth::Basic { user: "fresh-admin".into(), password: "x".into() });
    let err = basic.create_token("fresh-admin", "t", &["write:repository"]).await.expect_err("403");
    assert!(err.to_string().contains("must change its password first"), "{err}");
    let anon = Forge::new(&Forgejo, &base, Auth::None);
    let err = anon.registration_token(Scope::Instance).await.expect_err("401");
    assert!(err.to_string().contains("HTTP 401"), "{err}");
}

#[test]
fn status_values_are_the_documented_ones() {
    for s in ["unknown", "waiting", "running", "success", "failure", "cancelled", "skipped", "blocked"] {
        assert!(!matches!(RunStatus::parse(s), RunStatus::Other(_)), "{s}");
    }
    assert_eq!(RunStatus::parse("paused"), RunStatus::Other("paused".into()));
    assert!(RunStatus::Cancelled.is_final() && !RunStatus::Blocked.is_final() && !RunStatus::Waiting.is_final());
}

#[tokio::test]
async fn a_pushed_workspace_runs_and_every_jobs_log_comes_back() {
    let (base, state) = fake_forgejo(&[]).await;
    let api = Forge::new(&Forgejo, &base, Auth::Token(TOKEN.into()));
    api.create_repo("docker-build").await.expect("repo");
    assert_eq!(
        api.registration_token(Scope::Repo { owner: "e2e-admin", repo: "docker-build" }).await.expect("scoped token"),
        "REPO-TOKEN-docker-build"
    );
    let ws = workspace("two-jobs", &["build", "fail-lint"]);
    let sha = push::push(&api, "e2e-admin", "e2e-admin", "docker-build", &ws).await.expect("push");
    let run = push::run_of(&api, "e2e-admin", "docker-build", &sha, Duration::from_secs(30)).await.expect("run");
    assert_eq!((run.sha.as_str(), run.run_number), (sha.as_str(), 1));
    let jobs: Vec<(&str, RunStatus)> = run.jobs.iter().map(|j| (j.name.as_str(), j.status.clone())).collect();
    assert_eq!(jobs, [("build", RunStatus::Success), ("fail-lint", RunStatus::Failure)]);
    assert!(!run.succeeded());
    // Each job's own log, fetched by its index in the run.
    assert!(run.jobs[0].log.contains(&format!("job=build sha={sha}")), "{}", run.jobs[0].log);
    assert!(run.jobs[1].log.contains("job=fail-lint"), "{}", run.jobs[1].log);
    assert!(run.joined_log().contains("== job build (success) =="), "{}", run.joined_log());

    // A second push is a second run; the first commit's run is not mistaken for it.
    std::fs::write(ws.join("README"), "again\n").expect("write");
    commit(&ws, "second", false);
    let again = push::push(&api, "e2e-admin", "e2e-admin", "docker-build", &ws).await.expect("push 2");
    assert_ne!(again, sha);
    let run2 = push::run_of(&api, "e2e-admin", "docker-build", &again, Duration::from_secs(30)).await.expect("run 2");
    assert_eq!(run2.run_number, 2);
    // git authenticated every push request with the token, from its environment.
    let seen = state.lock().expect("state").push_auth.clone();
    assert!(!seen.is_empty() && seen.iter().all(|a| a == PUSH_AUTH), "{seen:?}");
    let _ = std::fs::remove_dir_all(ws);
    forget(&state);
}

#[tokio::test]
async fn a_rejected_push_a_wrong_token_and_no_runner_are_named_failures() {
    let (base, state) = fake_forgejo(&[]).await;
    let api = Forge::new(&Forgejo, &base, Auth::Token(TOKEN.into()));
    api.create_repo("locked").await.expect("repo");
    api.create_repo("idle").await.expect("repo");
    let ws = workspace("rejected", &["build"]);
    let err = push::push(&api, "e2e-admin", "e2e-admin", "locked", &ws).await.expect_err("403");
    assert!(matches!(Failed::of(&err), Some(Failed::PushRejected { status: 403, .. })), "{err:#}");
    let err = format!("{err:#}");
    assert!(err.starts_with(&format!("git push to {base}/e2e-admin/locked.git: the push was rejected")), "{err}");
    assert!(err.contains("may lack `write:repository`"), "{err}");

    let wrong = Forge::new(&Forgejo, &base, Auth::Token("not-the-token".into()));
    let err = push::push(&wrong, "e2e-admin", "e2e-admin", "idle", &ws).await.expect_err("401");
    assert!(matches!(Failed::of(&err), Some(Failed::PushRejected { status: 401, .. })), "{err:#}");
    let err = format!("{err:#}");
    assert!(err.contains("the credentials are refused (a wrong or expired token)"), "{err}");
    assert!(!err.contains("not-the-token"), "a token in an error: {err}");

    // Pushed, but no run ever appears (a workflow without jobs): bounded by the deadline,
    // and says what it waited for.
    std::fs::write(ws.join(".forgejo/workflows/ci.yml"), "on: push\njobs: {}\n").expect("write");
    commit(&ws, "no jobs", false);
    let sha = push::push(&api, "e2e-admin", "e2e-admin", "idle", &ws).await.expect("push");
    let started = std::time::Instant::now();
    let err = push::run_of(&api, "e2e-admin", "idle", &sha, Duration::from_secs(3)).await.expect_err("no run");
    assert!(started.elapsed() < Duration::from_secs(10), "bounded: {:?}", started.elapsed());
    let err = format!("{err:#}");
    assert!(err.starts_with("Forgejo started no run for the pushed commit within 3s (are Actions on for"), "{err}");
    let _ = std::fs::remove_dir_all(ws);
    forget(&state);
}

#[tokio::test]
async fn an_unreachable_forgejo_is_an_error_at_once_not_a_wait() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let api = Forge::new(&Forgejo, &base, Auth::Token(TOKEN.into()));
    let started = std::time::Instant::now();
    let err = push::run_of(&api, "e2e-admin", "x", "abc", Duration::from_secs(60)).await.expect_err("refused");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert!(format!("{err:#}").contains("/actions/tasks"), "{err:#}");
}

#[tokio::test]
async fn a_job_no_runner_takes_is_named_within_the_deadline() {
    let (base, state) = fake_forgejo(&[]).await;
    let api = Forge::new(&Forgejo, &base, Auth::Token(TOKEN.into()));
    api.create_repo("nobody-takes").await.expect("repo");
    let ws = workspace("nobody", &["build"]);
    let sha = push::push(&api, "e2e-admin", "e2e-admin", "nobody-takes", &ws).await.expect("push");
    let started = std::time::Instant::now();
    let err = push::run_of(&api, "e2e-admin", "nobody-takes", &sha, Duration::from_secs(3)).await.expect_err("waits");
    assert!(started.elapsed() < Duration::from_secs(10), "bounded: {:?}", started.elapsed());
    // The run's page is there: a job waits for a runner, which is the fault's failure.
    let within = Duration::from_secs(3);
    assert_eq!(Failed::of(&err), Some(&Failed::NotPicked { job: None, within }), "{err:#}");
    let d = harness::fault::Deadlines { job: within, ..Default::default() };
    assert!(harness::fault::Fault::NoRunnerTakes.failure().seen(Failed::of(&err), &[], d).is_some(), "{err:#}");
    let _ = std::fs::remove_dir_all(ws);
    forget(&state);
}

#[tokio::test]
async fn forgejo_stopped_mid_run_is_named_soon_after_its_hook_fired_once() {
    let (base, state) = fake_forgejo(&[]).await;
    let api = Forge::new(&Forgejo, &base, Auth::Token(TOKEN.into()));
    api.create_repo("stopped").await.expect("repo");
    let ws = workspace("stopped", &["sleep-build"]);
    let sha = push::push(&api, "e2e-admin", "e2e-admin", "stopped", &ws).await.expect("push");
    let (mut fired, mut seen_running) = (0, false);
    let during = async |tasks: &[Task]| -> anyhow::Result<()> {
        if !tasks.iter().any(|t| t.status() == RunStatus::Running) {
            return Ok(());
        }
        seen_running = true;
        // The hook: the job's live log shows its trigger, and Forgejo is stopped.
        if fired == 0 && push::printed(&api, "e2e-admin", "stopped", tasks, "E2E-MARK n sleeping=").await {
            assert!(!push::printed(&api, "e2e-admin", "stopped", tasks, "E2E-MARK n never=").await);
            fired += 1;
            stop(&state);
        }
        Ok(())
    };
    let started = std::time::Instant::now();
    let err = push::watch(&api, "e2e-admin", "stopped", &sha, Duration::from_secs(60), during).await.expect_err("gone");
    assert!(started.elapsed() < Duration::from_secs(20), "named well before the deadline: {:?}", started.elapsed());
    assert!(seen_running && fired == 1, "running seen: {seen_running}, hook fired {fired} times");
    assert!(matches!(Failed::of(&err), Some(Failed::ForgeGone { polls: 3, .. })), "{err:#}");
    let _ = std::fs::remove_dir_all(ws);
    forget(&state);
}

#[tokio::test]
async fn a_runner_that_died_ends_the_watch_and_a_job_past_its_deadline_is_named() {
    let (base, state) = fake_forgejo(&[]).await;
    let api = Forge::new(&Forgejo, &base, Auth::Token(TOKEN.into()));
    api.create_repo("hangs").await.expect("repo");
    let ws = workspace("hangs", &["sleep-build"]);
    let sha = push::push(&api, "e2e-admin", "e2e-admin", "hangs", &ws).await.expect("push");
    // What the platform's check of the runner container says, once the job is under way.
    let died =
        async |_: &[Task]| -> anyhow::Result<()> { Err(Failed::RunnerDied { how: "exit code 137".into() }.into()) };
    let err = push::watch(&api, "e2e-admin", "hangs", &sha, Duration::from_secs(60), died).await.expect_err("died");
    assert_eq!(Failed::of(&err), Some(&Failed::RunnerDied { how: "exit code 137".into() }));
    // Nothing ends it: the job deadline, naming the job still running.
    let started = std::time::Instant::now();
    let err = push::run_of(&api, "e2e-admin", "hangs", &sha, Duration::from_secs(4)).await.expect_err("deadline");
    assert!(started.elapsed() < Duration::from_secs(10), "bounded: {:?}", started.elapsed());
    let running = "job `sleep-build` is running".to_owned();
    assert_eq!(Failed::of(&err), Some(&Failed::JobDeadline { after: Duration::from_secs(4), state: running }));
    let _ = std::fs::remove_dir_all(ws);
    forget(&state);
}

#[tokio::test]
async fn a_users_workflow_goes_job_by_job_each_push_starting_only_that_job() {
    let (base, state) = fake_forgejo(&[]).await;
    let api = Forge::new(&Forgejo, &base, Auth::Token(TOKEN.into()));
    api.create_repo("jobs").await.expect("repo");
    let ws = workspace("job-by-job", &["build", "lint"]);
    // The one-job files `lay_workspace` writes, and a GitHub-style folder Forgejo would
    // otherwise also read.
    std::fs::create_dir_all(ws.join(".forgejo-e2e/jobs")).expect("dir");
    for job in ["build", "lint"] {
        let one = format!("on: push\njobs:\n  {job}:\n    runs-on: docker\n    steps: [{{run: 'true'}}]\n");
        std::fs::write(ws.join(format!(".forgejo-e2e/jobs/{job}.yml")), one).expect("job file");
    }
    std::fs::create_dir_all(ws.join(".github/workflows")).expect("dir");
    std::fs::write(ws.join(".github/workflows/other.yml"), "on: push\njobs: {}\n").expect("write");
    commit(&ws, "jobs", false);
    let mut ran = Vec::new();
    for job in ["lint", "build"] {
        push::commit_one_job(&ws, &format!(".forgejo-e2e/jobs/{job}.yml"), job).await.expect("commit");
        let sha = push::push(&api, "e2e-admin", "e2e-admin", "jobs", &ws).await.expect("push");
        let run = push::run_of(&api, "e2e-admin", "jobs", &sha, Duration::from_secs(30)).await.expect("run");
        ran.push((run.run_number, run.jobs.iter().map(|j| j.name.clone()).collect::<Vec<_>>()));
    }
    assert_eq!(ran, [(1, vec!["lint".to_owned()]), (2, vec!["build".to_owned()])]);
    let tree = git(&ws, &["ls-files"]);
    assert!(tree.contains(".forgejo/workflows/forgejo-e2e-job.yml") && !tree.contains(".github/workflows"), "{tree}");
    assert!(!tree.contains(".forgejo/workflows/ci.yml"), "{tree}");
    let _ = std::fs::remove_dir_all(ws);
    forget(&state);
}

#[tokio::test]
async fn the_deadline_bounds_the_wait_for_a_runner_and_then_the_job_from_its_start() {
    let (base, state) = fake_forgejo(&[]).await;
    let api = Forge::new(&Forgejo, &base, Auth::Token(TOKEN.into()));
    api.create_repo("late").await.expect("repo");
    let ws = workspace("late", &["build"]);
    let sha = push::push(&api, "e2e-admin", "e2e-admin", "late", &ws).await.expect("push");
    // Taken after about 4 s, then about 3 s to finish: more than 5 s in all, each part less.
    let started = std::time::Instant::now();
    let run = push::run_of(&api, "e2e-admin", "late", &sha, Duration::from_secs(5)).await.expect("run");
    assert!(started.elapsed() > Duration::from_secs(5), "the whole took {:?}", started.elapsed());
    assert_eq!(run.jobs[0].status, RunStatus::Success);
    let _ = std::fs::remove_dir_all(ws);
    forget(&state);
}
