# install_completions.sh CMAKE BUILD-DIR DATADIR: `cmake --install` puts
# the three shell completions where bash-completion, zsh and fish look,
# under DATADIR of the prefix.
set -u
prefix=$(mktemp -d "${TMPDIR:-/tmp}/filelock-install.XXXXXX") || exit 1
trap 'rm -rf "$prefix"' EXIT
"$1" --install "$2" --prefix "$prefix" --component completions >/dev/null ||
  exit 1
status=0
for f in bash-completion/completions/filelock zsh/site-functions/_filelock \
    fish/vendor_completions.d/filelock.fish; do
  if [ -f "$prefix/$3/$f" ]; then
    echo "ok: $3/$f"
  else
    echo "FAIL: $3/$f is not installed"
    status=1
  fi
done
exit $status
