//! The `Ferry` test builder (after just's `Test`): one run of the real
//! `ferry` binary in a `Project`, with everything it must do (exit code,
//! stdout, stderr, files) stated before `.run()`, which checks it all in one
//! `#[track_caller]` call and hands back the output for further checks.
//!
//! Domain verbs (`project.deploy(..)`, `rollback()`, ...) live on `Project`
//! and start a `Ferry`; `Ferry::spawn` starts the same run in the background.

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};

use super::project::Project;

/// A `ferry` run to make: arguments, environment and what must come of it.
/// The exit code expected is 0 unless `.code(..)` or `.failure()` says else.
#[must_use = "a Ferry runs nothing until .run() or .spawn()"]
pub(crate) struct Ferry<'p> {
    project: &'p Project,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    expect: Expect,
}

/// What a `ferry` run printed and how it ended.
#[derive(Debug)]
pub(crate) struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

#[derive(Default)]
struct Expect {
    code: Code,
    stdout: Vec<Text>,
    stderr: Vec<Text>,
    files: Vec<File>,
}

#[derive(Default)]
enum Code {
    #[default]
    Success,
    Exact(i32),
    Failure,
}

enum Text {
    Whole(String),
    Lines(String),
    Has(String),
    Lacks(String),
}

enum File {
    Content(PathBuf, String),
    Absent(PathBuf),
}

impl<'p> Ferry<'p> {
    /// `ferry` with no arguments yet, in `project`'s folder.
    pub(crate) fn new(project: &'p Project) -> Ferry<'p> {
        Ferry {
            project,
            args: Vec::new(),
            env: Vec::new(),
            expect: Expect::default(),
        }
    }

    pub(crate) fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub(crate) fn args<I>(mut self, args: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// An environment variable for this run (FERRY_* settings of the test
    /// process itself never leak in; `SSH_AUTH_SOCK` only when set here).
    pub(crate) fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// The exit code the run must end with.
    pub(crate) fn code(mut self, code: i32) -> Self {
        self.expect.code = Code::Exact(code);
        self
    }

    /// Any non-zero exit code.
    pub(crate) fn failure(mut self) -> Self {
        self.expect.code = Code::Failure;
        self
    }

    /// stdout must be exactly `text`.
    pub(crate) fn stdout(mut self, text: impl Into<String>) -> Self {
        self.expect.stdout.push(Text::Whole(text.into()));
        self
    }

    /// stderr must be exactly `text` (whole error messages, as just tests them).
    pub(crate) fn stderr(mut self, text: impl Into<String>) -> Self {
        self.expect.stderr.push(Text::Whole(text.into()));
        self
    }

    /// stderr must hold `lines` as whole lines (one or more, each ending in
    /// a newline): a whole message amid output that has times or run ids.
    pub(crate) fn stderr_lines(mut self, lines: impl Into<String>) -> Self {
        self.expect.stderr.push(Text::Lines(lines.into()));
        self
    }

    /// stdout must contain `needle` (for output with times or temp paths).
    pub(crate) fn stdout_has(mut self, needle: impl Into<String>) -> Self {
        self.expect.stdout.push(Text::Has(needle.into()));
        self
    }

    pub(crate) fn stderr_has(mut self, needle: impl Into<String>) -> Self {
        self.expect.stderr.push(Text::Has(needle.into()));
        self
    }

    pub(crate) fn stdout_lacks(mut self, needle: impl Into<String>) -> Self {
        self.expect.stdout.push(Text::Lacks(needle.into()));
        self
    }

    pub(crate) fn stderr_lacks(mut self, needle: impl Into<String>) -> Self {
        self.expect.stderr.push(Text::Lacks(needle.into()));
        self
    }

    /// After the run, `path` (relative: in the project) holds exactly `content`.
    pub(crate) fn file(mut self, path: impl AsRef<Path>, content: impl Into<String>) -> Self {
        let path = self.project.path().join(path);
        self.expect.files.push(File::Content(path, content.into()));
        self
    }

    /// After the run, nothing exists at `path` (relative: in the project).
    pub(crate) fn no_file(mut self, path: impl AsRef<Path>) -> Self {
        let path = self.project.path().join(path);
        self.expect.files.push(File::Absent(path));
        self
    }

    /// Run ferry to its end, check everything expected, return its output.
    #[track_caller]
    pub(crate) fn run(self) -> Output {
        let out = self
            .command()
            .stdin(Stdio::null())
            .output()
            .expect("run ferry");
        let output = Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        self.expect.check(&output);
        output
    }

    /// Start ferry in the background (stdout discarded, stderr kept); the
    /// expectations are checked by `Running::finish`.
    pub(crate) fn spawn(self) -> Running {
        let mut child = self
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ferry");
        let stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
        Running {
            child: Some(child),
            stderr,
            seen: String::new(),
            expect: self.expect,
        }
    }

    /// Run ferry in a pseudo-terminal (util-linux `script`), as a person
    /// at a terminal would: stdout and stderr both land in the returned
    /// `stdout`, escape sequences and all. Only the exit code is checked.
    #[track_caller]
    pub(crate) fn run_in_pty(self) -> Output {
        let plain = self.command();
        let quote = |s: &OsStr| format!("'{}'", s.to_string_lossy().replace('\'', "'\\''"));
        let line: Vec<String> = std::iter::once(plain.get_program())
            .chain(plain.get_args())
            .map(quote)
            .collect();
        let mut cmd = Command::new("script");
        cmd.args(["-q", "-e", "-c", &line.join(" "), "/dev/null"])
            .current_dir(self.project.path());
        // What decides colour besides the terminal comes from the test
        // alone, not from the machine (CI sets `CI`, which anstream reads
        // as "colour on a terminal").
        for key in ["CI", "CLICOLOR", "CLICOLOR_FORCE", "NO_COLOR"] {
            cmd.env_remove(key);
        }
        for (key, value) in plain.get_envs() {
            match value {
                Some(value) => cmd.env(key, value),
                None => cmd.env_remove(key),
            };
        }
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .expect("run ferry in script (util-linux)");
        let output = Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        let want = Expect {
            code: self.expect.code,
            ..Expect::default()
        };
        want.check(&output);
        output
    }

    /// The real binary in the project folder, with no ssh-agent (only the
    /// inventory's identity files count) and no inherited FERRY_* settings.
    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
        cmd.args(&self.args)
            .current_dir(self.project.path())
            .env_remove("SSH_AUTH_SOCK");
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("FERRY_") {
                cmd.env_remove(key);
            }
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }
}

/// A `ferry` started by `Ferry::spawn`; killed if dropped before `finish`
/// (a failed assertion must not leave it waiting).
pub(crate) struct Running {
    child: Option<Child>,
    stderr: BufReader<ChildStderr>,
    seen: String,
    expect: Expect,
}

impl Running {
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Whether the run has not ended yet.
    pub(crate) fn is_running(&mut self) -> bool {
        let child = self.child.as_mut().expect("running");
        child.try_wait().expect("try_wait").is_none()
    }

    /// Send `kill SIG` (e.g. "-INT") to the run.
    pub(crate) fn signal(&self, sig: &str) {
        super::host::signal(self.pid(), sig);
    }

    /// Read stderr line by line until `found` says yes (true) or it ends
    /// (false). Every line read is kept for `finish`.
    pub(crate) fn stderr_until(&mut self, mut found: impl FnMut(&str) -> bool) -> bool {
        loop {
            let mut line = String::new();
            if self.stderr.read_line(&mut line).expect("read stderr") == 0 {
                return false;
            }
            self.seen.push_str(&line);
            if found(&line) {
                return true;
            }
        }
    }

    /// Wait for the end, check everything expected, return the output
    /// (stdout is empty: it was discarded).
    #[track_caller]
    pub(crate) fn finish(mut self) -> Output {
        let mut rest = String::new();
        self.stderr.read_to_string(&mut rest).expect("read stderr");
        let status = self.child.take().expect("running").wait().expect("wait");
        let output = Output {
            code: status.code().unwrap_or(-1),
            stdout: String::new(),
            stderr: std::mem::take(&mut self.seen) + &rest,
        };
        self.expect.check(&output);
        output
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Output {
    /// stdout as one JSON document.
    #[track_caller]
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON: {e}\n{}", self.stdout))
    }

    /// stdout as JSON lines.
    #[track_caller]
    pub(crate) fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
            .collect()
    }
}

impl Expect {
    #[track_caller]
    fn check(&self, out: &Output) {
        let code_ok = match self.code {
            Code::Success => out.code == 0,
            Code::Exact(code) => out.code == code,
            Code::Failure => out.code != 0,
        };
        let wanted = match self.code {
            Code::Success => "0".to_string(),
            Code::Exact(code) => code.to_string(),
            Code::Failure => "non-zero".to_string(),
        };
        assert!(
            code_ok,
            "exit code {} where {wanted} was expected\n--- stdout\n{}\n--- stderr\n{}",
            out.code, out.stdout, out.stderr
        );
        for text in &self.stdout {
            text.check("stdout", &out.stdout, out);
        }
        for text in &self.stderr {
            text.check("stderr", &out.stderr, out);
        }
        for file in &self.files {
            file.check();
        }
    }
}

impl Text {
    #[track_caller]
    fn check(&self, stream: &str, got: &str, out: &Output) {
        match self {
            Text::Whole(want) => assert!(
                got == want,
                "{stream} differs{}\n--- expected {stream}\n{want}\n--- actual {stream}\n{got}",
                first_difference(want, got)
            ),
            Text::Lines(lines) => assert!(
                format!("\n{got}").contains(&format!("\n{lines}")) && lines.ends_with('\n'),
                "{stream} lacks the whole lines\n{lines}--- actual {stream}\n{got}"
            ),
            Text::Has(needle) => assert!(
                got.contains(needle.as_str()),
                "{stream} lacks {needle:?}\n--- stdout\n{}\n--- stderr\n{}",
                out.stdout,
                out.stderr
            ),
            Text::Lacks(needle) => assert!(
                !got.contains(needle.as_str()),
                "{stream} holds {needle:?}\n--- stdout\n{}\n--- stderr\n{}",
                out.stdout,
                out.stderr
            ),
        }
    }
}

impl File {
    #[track_caller]
    fn check(&self) {
        match self {
            File::Content(path, want) => {
                let got = std::fs::read_to_string(path)
                    .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
                assert!(
                    &got == want,
                    "{} differs{}\n--- expected\n{want}\n--- actual\n{got}",
                    path.display(),
                    first_difference(want, &got)
                );
            }
            File::Absent(path) => assert!(
                std::fs::symlink_metadata(path).is_err(),
                "{} exists",
                path.display()
            ),
        }
    }
}

/// " at line N: expected X, got Y" for the first line that differs.
fn first_difference(want: &str, got: &str) -> String {
    let mut want_lines = want.split_inclusive('\n');
    let mut got_lines = got.split_inclusive('\n');
    for n in 1.. {
        match (want_lines.next(), got_lines.next()) {
            (None, None) => break,
            (w, g) if w == g => {}
            (w, g) => return format!(" at line {n}: expected {w:?}, got {g:?}"),
        }
    }
    String::new()
}
