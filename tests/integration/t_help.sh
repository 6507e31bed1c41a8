# What `--help` and `--version` promise: every help page exits 0 and ends
# with an example that uses only options the subcommand has; every option
# that takes a duration says in what unit and what its default is; typos of
# a subcommand or option get the closest name and status 64; --version
# names the version the project is built as.
. "$FILELOCK_TESTS_DIR/integration/lib.sh"

SUBCOMMANDS="run acquire release status break-stale"

# ---- filelock --help: the subcommands and an example
capture "$FL" --help
check_rc "--help exits 0" 0
check_eq "--help: nothing on stderr" "" "$(cat "$T/err")"
for sub in $SUBCOMMANDS; do
  check "--help lists $sub" grep -q "^  $sub  " "$T/out"
done
check "--help has an Example line" grep -q '^Examples\{0,1\}:$' "$T/out"

# example_lines FILE: the indented lines after "Example:" or "Examples:".
example_lines() {
  sed -n '/^Examples\{0,1\}:$/,$p' "$1" | sed -n 's/^  \(filelock .*\)/\1/p'
}

# entries FILE: one line per option of a help page, the option's names
# joined with its description (CLI11 wraps long ones onto lines indented
# by 30 spaces).
entries() {
  awk '/^  -/ { if (e != "") print e; e = $0; next }
       /^                              / { e = e " " $0; next }
       { if (e != "") print e; e = "" }
       END { if (e != "") print e }' "$1"
}

cp "$T/out" "$T/top"
check "--help: the example runs a subcommand" \
  test -n "$(example_lines "$T/top")"

for sub in $SUBCOMMANDS; do
  capture "$FL" "$sub" --help
  check_rc "$sub --help exits 0" 0
  check_eq "$sub --help: nothing on stderr" "" "$(cat "$T/err")"
  cp "$T/out" "$T/help.$sub"
  entries "$T/help.$sub" >"$T/entries.$sub"
  awk '{ print $1 }' "$T/entries.$sub" | tr ',' '\n' >"$T/names.$sub"
done

# example_options_ok FILE: each example line in FILE uses only options that
# its own subcommand's --help lists (the command after `--`, and comments,
# are not ours). Prints the offenders.
example_options_ok() {
  example_lines "$1" | sed 's/ -- .*//; s/ #.*//' | while read -r _ s args; do
    if [ ! -f "$T/names.$s" ]; then
      echo "$s(no such subcommand)"
      continue
    fi
    for opt in $(printf ' %s\n' "$args" | grep -o -- ' -[-a-zA-Z][-a-z]*'); do
      grep -qx -- "$opt" "$T/names.$s" || echo "$s $opt"
    done
  done | tr '\n' ' '
}

check_eq "--help: the example's options exist" "" \
  "$(example_options_ok "$T/top")"

for sub in $SUBCOMMANDS; do
  check "$sub --help has an Example line" \
    grep -q '^Examples\{0,1\}:$' "$T/help.$sub"
  example_lines "$T/help.$sub" >"$T/ex.$sub"
  check "$sub --help: the example is filelock $sub" \
    grep -q "^filelock $sub " "$T/ex.$sub"
  check_eq "$sub --help: the example's options exist" "" \
    "$(example_options_ok "$T/help.$sub")"

  # A DURATION option names its unit and its default.
  bad=""
  while IFS= read -r entry; do
    case $entry in
      *DURATION*) ;;
      *) continue ;;
    esac
    name=$(printf '%s\n' "$entry" | sed 's/^  \([^ ]*\).*/\1/')
    printf '%s\n' "$entry" | grep -q 'second' || bad="$bad $name(unit)"
    printf '%s\n' "$entry" | grep -q 'default' || bad="$bad $name(default)"
  done <"$T/entries.$sub"
  check_eq "$sub --help: every DURATION has a unit and a default" "" "$bad"
done

# The check above must see the options it is about.
check "run --help: the DURATION options are found" \
  test "$(grep -c DURATION "$T/entries.run")" -ge 5

# ---- typos: the closest name, status 64, one line, nothing run
capture "$FL" rnu /tmp/x -- true
check_rc "rnu -> 64" 64
check_stderr "rnu: did you mean run" \
  "filelock: unknown subcommand 'rnu' (did you mean 'run'?)"

capture "$FL" stauts "$L"
check_stderr "stauts: did you mean status" \
  "filelock: unknown subcommand 'stauts' (did you mean 'status'?)"

capture "$FL" xyzzy
check_rc "xyzzy -> 64" 64
check_stderr "a far-fetched subcommand gets no guess" \
  "filelock: unknown subcommand 'xyzzy'"

capture "$FL" status --jsn "$L"
check_rc "status --jsn -> 64" 64
check_stderr "status --jsn: did you mean --json" \
  "filelock: status: unknown option '--jsn' (did you mean '--json'?)"
check_eq "status --jsn: nothing on stdout" "" "$(cat "$T/out")"

capture "$FL" break-stale --dryrun "$L"
check_stderr "break-stale --dryrun: did you mean --dry-run" \
  "filelock: break-stale: unknown option '--dryrun' (did you mean '--dry-run'?)"

capture "$FL" run --timout 5 "$L" -- touch "$T/ran"
check_rc "run --timout -> 64" 64
check_stderr "run --timout: did you mean --timeout" \
  "filelock: run: unknown option '--timout' (did you mean '--timeout'?)"
check "run --timout: the command did not run" test ! -e "$T/ran"
check "run --timout: no lock file was made" test ! -e "$L"

capture "$FL" --verison
check_rc "--verison -> 64" 64
check_stderr "--verison: did you mean --version" \
  "filelock: unknown option '--verison' (did you mean '--version'?)"

# ---- --version: the version the project is built as
want=$(sed -n 's/^project(filelock VERSION \([0-9.]*\).*/\1/p' \
  "$FILELOCK_TESTS_DIR/../CMakeLists.txt")
check "the project version is found" test -n "$want"
for flag in --version -V; do
  capture "$FL" "$flag"
  check_rc "$flag exits 0" 0
  check_eq "$flag prints filelock X.Y.Z" "filelock $want" "$(cat "$T/out")"
done

finish
