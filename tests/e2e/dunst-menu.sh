#!/usr/bin/env bash
# dunst's context menu (`dunstctl context`) under test: dunst writes one line per action of the
# notifications on screen (`#Copy code (New fallback code) [12,copy]`) and invokes the line
# this prints. It picks the last line matching the pattern in $MSGOPS_E2E_DUNST_PICK (a file
# the test writes; "Copy code" without one), and keeps what it was offered beside the artifacts.
set -u
offered=$(cat)
printf '%s\n---\n' "$offered" >>"${MSGOPS_E2E_ARTIFACTS:-/tmp}.dunst-menu.log"
pattern="Copy code"
[ -n "${MSGOPS_E2E_DUNST_PICK:-}" ] && [ -s "$MSGOPS_E2E_DUNST_PICK" ] && pattern=$(cat "$MSGOPS_E2E_DUNST_PICK")
printf '%s\n' "$offered" | grep -F -- "$pattern" | tail -n 1
