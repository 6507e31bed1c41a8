# bash completion for filelock(1)                          -*- shell-script -*-
#
# Needs the bash-completion package (_init_completion, _filedir, _pids,
# _command_offset); installed as bash-completion/completions/filelock, it
# is loaded the first time filelock is completed.

# _filelock_options SUB: every option SUB takes. tests/integration/
# t_completions.sh checks these against `filelock SUB --help`.
_filelock_options()
{
    local lock='-s --shared -x -e --exclusive -n --nonblock --nb
        -w --timeout --wait -E --conflict-exit-code --mode -v --verbose
        -q --quiet'
    local etcd='--etcd-endpoints --lease-ttl --etcd-cacert --etcd-cert
        --etcd-key --etcd-insecure-skip-tls-verify --etcd-user
        --etcd-password-file'
    case $1 in
        run)
            echo "-h --help $lock -c --command --inherit -F --no-fork
                --kind --slots --lifetime --on-lost --max-runtime
                --kill-after -o --close $etcd --lost-grace --fair"
            ;;
        acquire)
            echo "-h --help $lock --fd --lifetime --owner-pid --json $etcd
                --slots"
            ;;
        release)
            echo "-h --help --fd --token --owner-pid --force --json
                -v --verbose -q --quiet $etcd --slot"
            ;;
        status) echo "-h --help --json --kind $etcd" ;;
        break-stale) echo "-h --help --dry-run --json --force --kind $etcd" ;;
    esac
}

# _filelock_takes_value WORD: WORD is an option whose value is the next
# word. A cluster of short flags can end in one (-nw 5); -w5 cannot.
_filelock_takes_value()
{
    case $1 in
        --timeout | --wait | --conflict-exit-code | --mode | --command | \
            --kind | --slots | --lifetime | --on-lost | --max-runtime | \
            --kill-after | --slot | \
            --fd | --token | --owner-pid | --etcd-endpoints | --lease-ttl | \
            --etcd-cacert | --etcd-cert | --etcd-key | --etcd-user | \
            --etcd-password-file | --lost-grace)
            return 0
            ;;
    esac
    [[ $1 =~ ^-[sxenvqFo]*[wEc]$ ]]
}

# _filelock_run_command FIRST: sets REPLY to the index in words of run's
# command (the first word after --, or the word after LOCK, as flock(1)
# takes it), scanning from FIRST. Fails while filelock's own options and
# LOCK are still being typed, and always with -c, whose STRING is the
# command.
_filelock_run_command()
{
    local i have_lock=''
    for ((i = $1; i < cword; i++)); do
        if [[ ${words[i]} == -- ]]; then
            REPLY=$((i + 1))
            return 0
        elif [[ ${words[i]} == --command || ${words[i]} == --command=* ||
            ${words[i]} =~ ^-[sxenvqFo]*c ]]; then
            return 1
        elif _filelock_takes_value "${words[i]}"; then
            ((i++))
        elif [[ ${words[i]} != -* ]]; then
            if [[ $have_lock ]]; then
                REPLY=$i
                return 0
            fi
            have_lock=1
        fi
    done
    [[ $have_lock && $cur != -* ]] || return 1
    REPLY=$cword
}

# _filelock_comp_index N: sets REPLY to the index in COMP_WORDS where
# words[N] begins. COMP_WORDS is split at every = and :, which words keeps
# whole (--kind=os, etcd:NAME), and _command_offset counts in COMP_WORDS.
_filelock_comp_index()
{
    local j acc i=0
    for ((j = 0; j < $1; j++)); do
        acc=${COMP_WORDS[i++]}
        while [[ $acc != "${words[j]}" ]] && ((i < ${#COMP_WORDS[@]})); do
            acc+=${COMP_WORDS[i++]}
        done
    done
    REPLY=$i
}

_filelock()
{
    local cur prev words cword split
    _init_completion -s -n : || return

    local i sub='' at=0
    for ((i = 1; i < cword; i++)); do
        if [[ ${words[i]} != -* ]]; then
            sub=${words[i]}
            at=$i
            break
        fi
    done

    if [[ ! $sub ]]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W '-h --help -V --version' -- "$cur"))
        elif ((cword == 1)); then
            COMPREPLY=($(compgen -W 'run acquire release status
                break-stale' -- "$cur"))
        fi
        return
    fi

    local REPLY
    if [[ $sub == run ]] && _filelock_run_command $((at + 1)); then
        _filelock_comp_index "$REPLY"
        _command_offset "$REPLY"
        return
    fi

    case $prev in
        --kind)
            [[ $sub == run || $sub == status || $sub == break-stale ]] &&
                COMPREPLY=($(compgen -W 'os soft auto' -- "$cur"))
            return
            ;;
        --on-lost)
            [[ $sub == run ]] && COMPREPLY=($(compgen -W 'kill warn' -- "$cur"))
            return
            ;;
        --etcd-cacert | --etcd-cert | --etcd-key | --etcd-password-file)
            _filedir
            __ltrim_colon_completions "$cur"
            return
            ;;
        --owner-pid)
            _pids
            return
            ;;
    esac
    _filelock_takes_value "$prev" && return
    [[ $split == true ]] && return

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(_filelock_options "$sub")" -- "$cur"))
        return
    fi

    # LOCK: acquire and release take one, status and break-stale several.
    if [[ $sub == acquire || $sub == release ]]; then
        for ((i = at + 1; i < cword; i++)); do
            if _filelock_takes_value "${words[i]}"; then
                ((i++))
            elif [[ ${words[i]} != -* ]]; then
                return
            fi
        done
    fi
    case $sub in
        run | acquire | release | status | break-stale)
            _filedir
            __ltrim_colon_completions "$cur"
            ;;
    esac
} &&
    complete -F _filelock filelock

# ex: filetype=sh
