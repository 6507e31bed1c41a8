# The shell completions in completions/ name every long option that
# `filelock SUB --help` lists, so that they cannot drift from the program;
# then bash, zsh and fish are driven for real: subcommands, each
# subcommand's options (exactly --help's), the values of --kind and
# --on-lost, LOCK as a path, and run's command completed as a command of
# its own. A shell that is not installed is skipped.
. "$FILELOCK_TESTS_DIR/integration/lib.sh"

COMP="$FILELOCK_TESTS_DIR/../completions"
SUBS="run acquire release status break-stale"

# help_options SUB: the long options of `filelock SUB --help`, one a line.
help_options() {
  "$FL" "$1" --help | grep -o -- '--[a-z][a-z-]*' | LC_ALL=C sort -u
}

# missing_options SUB FILE [fish]: the long options of SUB's --help that
# FILE does not name (fish names --kind as "-l kind").
missing_options() {
  help_options "$1" | while read -r opt; do
    if [ "${3-}" = fish ]; then
      pattern="-l ${opt#--}"
    else
      pattern=$opt
    fi
    if grep -qE -- "(^|[^a-z-])$pattern([^a-z-]|\$)" "$2"; then
      echo ok
    else
      echo "$opt"
    fi
  done | grep -v '^ok$' | tr '\n' ' '
}

for sub in $SUBS; do
  check_eq "filelock.bash names every option of $sub" "" \
    "$(missing_options "$sub" "$COMP/filelock.bash")"
  check_eq "_filelock names every option of $sub" "" \
    "$(missing_options "$sub" "$COMP/_filelock")"
  check_eq "filelock.fish names every option of $sub" "" \
    "$(missing_options "$sub" "$COMP/filelock.fish" fish)"
done

# Files for LOCK and --etcd-cacert (complete_line runs in $T/d); each
# shell's harness gives mycmd_for_tests a completion of its own, so that
# the test depends on no other program's completion.
mkdir "$T/d"
touch "$T/d/x.lock" "$T/d/xy.lock" "$T/d/other"

# expect_completions SHELL: the checks every shell must pass;
# complete_line LINE prints the sorted candidates for LINE.
expect_completions() {
  check_eq "$1: filelock ru<TAB>" "run" "$(complete_line 'filelock ru')"
  check_eq "$1: filelock <TAB>" "acquire break-stale release run status" \
    "$(complete_line 'filelock ')"
  check_eq "$1: filelock run --ki<TAB>" "--kill-after --kind" \
    "$(complete_line 'filelock run --ki')"
  check_eq "$1: filelock run --kind <TAB>" "auto os soft" \
    "$(complete_line 'filelock run --kind ')"
  check_eq "$1: filelock run --kind=s<TAB>" "soft" \
    "$(complete_line 'filelock run --kind=s')"
  check_eq "$1: filelock status --kind s<TAB>" "soft" \
    "$(complete_line 'filelock status --kind s')"
  check_eq "$1: filelock run --on-lost <TAB>" "kill warn" \
    "$(complete_line 'filelock run --on-lost ')"
  for sub in $SUBS; do
    check_eq "$1: filelock $sub --<TAB> is what --help lists" \
      "$(help_options "$sub" | tr '\n' ' ' | sed 's/ $//')" \
      "$(complete_line "filelock $sub --")"
  done
  check_eq "$1: LOCK is a path" "x.lock xy.lock" \
    "$(complete_line 'filelock run x')"
  for opt in --etcd-cacert --etcd-cert --etcd-key --etcd-password-file; do
    check_eq "$1: $opt takes a file" "x.lock xy.lock" \
      "$(complete_line "filelock status $opt x")"
  done
  check_eq "$1: run's command after --" "mycmd_for_tests" \
    "$(complete_line "filelock run $L -- mycmd_for_t")"
  check_eq "$1: run's command has its own completion" "alpha" \
    "$(complete_line "filelock run -w 5 $L -- mycmd_for_tests al")"
  check_eq "$1: run's command after LOCK, as flock(1) takes it" "beta" \
    "$(complete_line "filelock run --kind os $L mycmd_for_tests b")"
  check_eq "$1: an etcd:NAME lock is one word" "alpha" \
    "$(complete_line 'filelock run etcd:job mycmd_for_tests a')"
  check_eq "$1: after LOCK, an option is still filelock's" "--inherit" \
    "$(complete_line "filelock run -nw 5 $L --inh")"
}

# ---------------------------------------------------------------- bash

BASH_COMPLETION=/usr/share/bash-completion/bash_completion
if ! command -v bash >/dev/null || [ ! -r "$BASH_COMPLETION" ]; then
  echo "SKIP: bash or bash-completion is not installed"
else
  # COMP_WORDS is split the way bash splits it: at blanks and at every =
  # and : (COMP_WORDBREAKS), with an empty word after a final blank.
  cat >"$T/complete.bash" <<'EOF'
. "$1" || exit 1
. "$2" || exit 1
mycmd_for_tests() { :; }
complete -W 'alpha beta' mycmd_for_tests
set -f
COMP_LINE=$3
COMP_POINT=${#COMP_LINE}
COMP_WORDS=()
for w in $COMP_LINE; do
  while [[ $w =~ ^([^=:]*)([=:])(.*)$ ]]; do
    [[ ${BASH_REMATCH[1]} ]] && COMP_WORDS+=("${BASH_REMATCH[1]}")
    COMP_WORDS+=("${BASH_REMATCH[2]}")
    w=${BASH_REMATCH[3]}
  done
  [[ $w ]] && COMP_WORDS+=("$w")
done
[[ $COMP_LINE == *' ' ]] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
# compopt complains outside a real completion; its message is no result.
_filelock filelock "${COMP_WORDS[COMP_CWORD]}" \
  "${COMP_WORDS[COMP_CWORD - 1]}" 2>/dev/null
printf '%s\n' "${COMPREPLY[@]}"
EOF
  complete_line() {
    (cd "$T/d" &&
      bash "$T/complete.bash" "$BASH_COMPLETION" "$COMP/filelock.bash" "$1") |
      LC_ALL=C sort -u | tr '\n' ' ' | sed 's/ $//'
  }
  check "bash: filelock.bash parses" bash -n "$COMP/filelock.bash"
  expect_completions bash
fi

# ---------------------------------------------------------------- zsh

if ! command -v zsh >/dev/null; then
  echo "SKIP: zsh is not installed"
else
  capture zsh -n "$COMP/_filelock"
  check_rc "zsh: _filelock parses" 0
  check_eq "zsh: zsh -n says nothing" "" "$(cat "$T/out" "$T/err")"
  capture zsh -f -c 'fpath=("$1" $fpath); autoload -Uz compinit
    compinit -u -D; print -r -- $_comps[filelock]' zsh "$COMP"
  check_eq "zsh: compinit makes _filelock complete filelock" "_filelock" \
    "$(cat "$T/out" "$T/err")"

  # An interactive zsh in a pseudo-terminal (zpty) gets LINE and a TAB;
  # compadd, through which every match reaches the shell, records them.
  cat >"$T/complete.zsh" <<'EOF'
zmodload zsh/zpty || exit 1
tmp=$(mktemp -d) || exit 1
out=$tmp/out
# wait_for MARK: until the shell in the pty has written MARK to $out.
wait_for() {
  local i
  for i in {1..400}; do
    [[ -f $out ]] && grep -qx -- $1 $out && return 0
    sleep 0.05
  done
  return 1
}
# The set-up is the shell's .zshrc, and typing waits for zle to start
# (what is typed before is lost). compinit's -D alone: a -d after it would
# turn dumping back on. The completion ends with a mark and lists nothing.
cat >$tmp/.zshrc <<EOT
fpath=(${(q)1} \$fpath)
autoload -Uz compinit
compinit -u -D
mycmd_for_tests() { :; }
compdef '_values x alpha beta' mycmd_for_tests
compadd() {
  if [[ \${@[1,(i)(-|--)]} == *-(O|A|D)\\ * ]]; then
    builtin compadd "\$@"
    return
  fi
  local -a hits
  builtin compadd -A hits "\$@"
  (( \$#hits )) && print -rl -- \$hits >> ${(q)out}
  builtin compadd "\$@"
}
_test_complete() {
  _main_complete
  compstate[list]=
  print -r -- --end-- >> ${(q)out}
}
zle -C test-complete complete-word _test_complete
bindkey '^I' test-complete
zle-line-init() { print -r -- --ready-- >> ${(q)out}; }
zle -N zle-line-init
EOT
export ZDOTDIR=$tmp
zpty z zsh -d -i
wait_for --ready-- || { echo "zsh did not start" >&2; exit 1; }
zpty -w -n z "$2"$'\t'
wait_for --end-- || echo "the completion did not end" >&2
zpty -w z $'\C-u'"exit"
while zpty -r z line; do :; done 2>/dev/null
zpty -d z
grep -vx -e --ready-- -e --end-- $out
rm -rf $tmp
EOF
  complete_line() {
    (cd "$T/d" && zsh -f "$T/complete.zsh" "$COMP" "$1" 2>&1) |
      LC_ALL=C sort -u | tr '\n' ' ' | sed 's/ $//'
  }
  expect_completions zsh
fi

# ---------------------------------------------------------------- fish

if ! command -v fish >/dev/null; then
  echo "SKIP: fish is not installed"
else
  capture fish -N --no-execute "$COMP/filelock.fish"
  check_rc "fish: filelock.fish parses" 0
  check_eq "fish: fish --no-execute says nothing" "" \
    "$(cat "$T/out" "$T/err")"
  # fish offers a whole word (--kind=soft) where the others offer its
  # value; the value is compared.
  complete_line() {
    (cd "$T/d" && fish -N -c 'source $argv[1]; or exit 1
      function mycmd_for_tests; end
      complete -c mycmd_for_tests -x -a "alpha beta"
      complete -C $argv[2]' "$COMP/filelock.fish" "$1" 2>&1) |
      cut -f1 | sed 's/^--[a-z-]*=//' | LC_ALL=C sort -u | tr '\n' ' ' |
      sed 's/ $//'
  }
  expect_completions fish
fi

finish
