//! One binary, two faces: the window, and the headless `msgops` when started as
//! `msgops-console cli …` or under the name `msgops` (a symlink). The Linux packages carry this one
//! binary and a `/usr/bin/msgops` that runs it so, instead of a second copy of the same code.

use std::ffi::{OsStr, OsString};
use std::path::Path;

/// The first argument that turns the window's binary into the headless tool.
pub const CLI_ARG: &str = "cli";

/// The arguments for the headless tool (program name first, as clap wants them), or `None` when
/// the window is meant.
pub fn cli_args(args: impl IntoIterator<Item = OsString>) -> Option<Vec<OsString>> {
    let mut args = args.into_iter();
    let program = args.next()?;
    let called_msgops = Path::new(&program)
        .file_stem()
        .is_some_and(|stem| stem == OsStr::new("msgops"));
    let rest: Vec<OsString> = args.collect();
    let rest = if called_msgops {
        rest
    } else if rest.first().is_some_and(|first| first == CLI_ARG) {
        rest.into_iter().skip(1).collect()
    } else {
        return None;
    };
    Some(
        std::iter::once(OsString::from("msgops"))
            .chain(rest)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_window_by_default() {
        assert_eq!(cli_args(args(&["/usr/bin/msgops-console"])), None);
        // Arguments the window itself gets (autostart, a second instance) stay the window's.
        assert_eq!(cli_args(args(&["msgops-console", "--minimized"])), None);
        assert_eq!(cli_args(args(&["msgops-console", "serve"])), None);
        assert_eq!(cli_args(Vec::new()), None);
    }

    #[test]
    fn cli_as_first_argument_is_the_headless_tool() {
        assert_eq!(
            cli_args(args(&[
                "/usr/bin/msgops-console",
                "cli",
                "serve",
                "--config",
                "cli"
            ])),
            Some(args(&["msgops", "serve", "--config", "cli"]))
        );
        assert_eq!(
            cli_args(args(&["msgops-console", "cli"])),
            Some(args(&["msgops"]))
        );
    }

    #[test]
    fn called_msgops_through_a_link_is_the_headless_tool() {
        assert_eq!(
            cli_args(args(&["/usr/local/bin/msgops", "health"])),
            Some(args(&["msgops", "health"]))
        );
        assert_eq!(
            cli_args(args(&["msgops.exe", "codes"])),
            Some(args(&["msgops", "codes"]))
        );
    }
}
