# Every man page renders without warnings, and each subcommand's page names
# every long option that its --help lists, so that the two cannot drift
# apart.
. "$FILELOCK_TESTS_DIR/integration/lib.sh"

MAN="$FILELOCK_TESTS_DIR/../man"

for page in filelock.1 filelock-status.1 filelock-acquire.1 \
    filelock-break-stale.1 filelock-etcd.1; do
  capture groff -ww -man -z "$MAN/$page"
  check_rc "$page: groff renders it" 0
  check_eq "$page: groff has no warning" "" "$(cat "$T/err")"
  if command -v mandoc >/dev/null; then
    capture mandoc -Tlint "$MAN/$page"
    check_eq "$page: mandoc -Tlint is silent" "" "$(cat "$T/out" "$T/err")"
  fi
done

# check_options SUBCOMMAND PAGE: every --option of `filelock SUBCOMMAND
# --help` appears in PAGE (roff writes "--" as "\-\-").
check_options() {
  "$FL" "$1" --help | grep -o -- '--[a-z][a-z-]*' | sort -u |
    while read -r opt; do
      roff=$(printf '%s' "$opt" | sed 's/-/\\\\-/g')
      if grep -q -- "$roff" "$MAN/$2"; then
        echo "ok"
      else
        echo "$opt"
      fi
    done | grep -v '^ok$' | tr '\n' ' '
}

check_eq "run: every option is documented" "" \
  "$(check_options run filelock.1)"
check_eq "status: every option is documented" "" \
  "$(check_options status filelock-status.1)"
check_eq "acquire: every option is documented" "" \
  "$(check_options acquire filelock-acquire.1)"
check_eq "release: every option is documented" "" \
  "$(check_options release filelock-acquire.1)"
check_eq "break-stale: every option is documented" "" \
  "$(check_options break-stale filelock-break-stale.1)"

finish
