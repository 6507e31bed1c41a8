# Every man page renders without warnings, has the sections a reader looks
# for, in the usual order, names the version the program reports and only
# pages that exist; and each subcommand's page names every long option
# that its --help lists, so that the two cannot drift apart.
. "$FILELOCK_TESTS_DIR/integration/lib.sh"

MAN="$FILELOCK_TESTS_DIR/../man"
PAGES="filelock.1 filelock-status.1 filelock-acquire.1 filelock-break-stale.1
  filelock-etcd.1"

check_eq "every page in man/ is checked here" \
  "$(printf '%s\n' $PAGES | sort | tr '\n' ' ')" \
  "$(cd "$MAN" && ls -- *.1 | sort | tr '\n' ' ')"

# The sections every page has, in this order (others may come between).
REQUIRED="NAME|SYNOPSIS|DESCRIPTION|OPTIONS|EXIT STATUS|ENVIRONMENT|FILES|NOTES|EXAMPLES|SEE ALSO"

# sections_in_order PAGE: prints the required sections that PAGE lacks or
# has out of order.
sections_in_order() {
  sed -n 's/^\.SH "\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$1" | sed 's/\\-/-/g' |
    awk -v req="$REQUIRED" '
      BEGIN { n = split(req, want, "|"); i = 1 }
      i <= n && $0 == want[i] { i++ }
      END { for (; i <= n; i++) printf "%s ", want[i] }'
}

version=$("$FL" --version | sed 's/^filelock //')

for page in $PAGES; do
  check_eq "$page: has $REQUIRED, in order" "" \
    "$(sections_in_order "$MAN/$page")"
  check_eq "$page: .TH names filelock $version" "filelock $version" \
    "$(sed -n 's/^\.TH [^ ]* 1 [^ ]* "\([^"]*\)".*/\1/p' "$MAN/$page")"
  missing=""
  for ref in $(grep -o 'filelock\\-[a-z\\-]* (1)' "$MAN/$page" |
      sed 's/\\-/-/g; s/ (1)//' | sort -u); do
    [ -f "$MAN/$ref.1" ] || missing="$missing $ref(1)"
  done
  check_eq "$page: every filelock page it names exists" "" "$missing"
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
