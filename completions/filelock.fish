# fish completion for filelock(1). Installed in fish/vendor_completions.d,
# which fish searches by default. tests/integration/t_completions.sh checks
# the options against `filelock SUB --help`.

# The subcommand on the command line (the first word that is not an
# option); fails when there is none yet.
function __fish_filelock_subcommand
    for t in (commandline -opc)[2..-1]
        switch $t
            case '-*'
            case '*'
                echo $t
                return 0
        end
    end
    return 1
end

# An option whose value is the next word. A cluster of short flags can
# end in one (-nw 5); -w5 cannot.
function __fish_filelock_takes_value
    contains -- $argv[1] --timeout --wait --conflict-exit-code --mode \
        --command --kind --slots --lifetime --on-lost --max-runtime \
        --kill-after \
        --fd --token --owner-pid --etcd-endpoints --lease-ttl --etcd-cacert \
        --etcd-cert --etcd-key --etcd-user --etcd-password-file --lost-grace \
        --slot
    or string match -qr -- '^-[sxenvqFo]*[wEc]$' $argv[1]
end

# With `filelock run`, prints the words of run's command up to the one
# being completed: those after --, or from the word after LOCK on, as
# flock(1) takes them. Fails while filelock's own options and LOCK are
# still being typed, and always with -c, whose STRING is the command.
function __fish_filelock_run_command
    set -l words (commandline -opc)
    set -l current (commandline -ct)
    test "$words[2]" = run; or return 1
    set -l have_lock 0
    set -l i 3
    while test $i -le (count $words)
        set -l w $words[$i]
        if test "$w" = --
            # A range past the end would count backwards in fish.
            test $i -lt (count $words)
            and printf '%s\n' $words[(math $i + 1)..-1]
            printf '%s\n' $current
            return 0
        else if string match -qr -- '^(--command(=.*)?|-[sxenvqFo]*c.*)$' $w
            return 1
        else if __fish_filelock_takes_value $w
            set i (math $i + 1)
        else if not string match -q -- '-*' $w
            if test $have_lock = 1
                printf '%s\n' $words[$i..-1] $current
                return 0
            end
            set have_lock 1
        end
        set i (math $i + 1)
    end
    test $have_lock = 1; and not string match -q -- '-*' $current; or return 1
    printf '%s\n' $current
end

# True when the subcommand is one of the arguments and the word being
# completed is filelock's own (not part of run's command).
function __fish_filelock_using
    set -l sub (__fish_filelock_subcommand); or return 1
    contains -- $sub $argv; or return 1
    not __fish_filelock_run_command >/dev/null
end

set -l all run acquire release status break-stale

complete -c filelock -f
complete -c filelock -n 'not __fish_filelock_subcommand' -s h -l help \
    -d 'Print help and exit'
complete -c filelock -n 'not __fish_filelock_subcommand' -s V -l version \
    -d 'Print the version and exit'
complete -c filelock -n 'not __fish_filelock_subcommand' -a run \
    -d 'Take a lock, run a command while holding it, release it'
complete -c filelock -n 'not __fish_filelock_subcommand' -a acquire \
    -d 'Take a lock that stays held after this command returns'
complete -c filelock -n 'not __fish_filelock_subcommand' -a release \
    -d 'Give back a lock taken with filelock acquire'
complete -c filelock -n 'not __fish_filelock_subcommand' -a status \
    -d 'Tell whether locks are free, held (by whom) or stale'
complete -c filelock -n 'not __fish_filelock_subcommand' -a break-stale \
    -d 'Remove soft locks whose owner is gone or whose lifetime ran out'

# Every subcommand: LOCK (a file), --help and the etcd options.
set -l in "__fish_filelock_using $all"
complete -c filelock -n $in -F
complete -c filelock -n $in -s h -l help -d 'Print help and exit'
complete -c filelock -n $in -l etcd-endpoints -x \
    -d 'Endpoints for etcd:NAME (URL,...)'
complete -c filelock -n $in -l lease-ttl -x -d "TTL of the lock's lease"
complete -c filelock -n $in -l etcd-cacert -r -F \
    -d 'CA bundle to verify etcd with'
complete -c filelock -n $in -l etcd-cert -r -F -d 'Client certificate'
complete -c filelock -n $in -l etcd-key -r -F -d "Client certificate's key"
complete -c filelock -n $in -l etcd-insecure-skip-tls-verify \
    -d "Do not verify etcd's certificate (tests only)"
complete -c filelock -n $in -l etcd-user -x -d 'etcd user name'
complete -c filelock -n $in -l etcd-password-file -r -F \
    -d 'File whose first line is the etcd password'

# run and acquire: how to wait for the lock.
set -l in '__fish_filelock_using run acquire'
complete -c filelock -n $in -s s -l shared -d 'Take a shared (reader) lock'
complete -c filelock -n $in -s x -s e -l exclusive \
    -d 'Take an exclusive (writer) lock (default)'
complete -c filelock -n $in -s n -l nonblock -l nb \
    -d 'Fail at once if the lock is held'
complete -c filelock -n $in -s w -l timeout -l wait -x \
    -d 'Give up after DURATION (s, or 500ms, 2m, 1h)'
complete -c filelock -n $in -s E -l conflict-exit-code -x \
    -d 'Exit status when the lock is busy (1-255)'
complete -c filelock -n $in -l mode -x \
    -d 'Octal permissions of a lock file this command creates'

# run, acquire and release: how much to say.
set -l in '__fish_filelock_using run acquire release'
complete -c filelock -n $in -s v -l verbose -d 'Say more on stderr'
complete -c filelock -n $in -s q -l quiet \
    -d 'Say nothing when the lock is busy'

set -l in '__fish_filelock_using run status break-stale'
complete -c filelock -n $in -l kind -x -a 'os soft auto' \
    -d 'Kind of lock'

set -l in '__fish_filelock_using acquire release status break-stale'
complete -c filelock -n $in -l json -d 'Print JSON on stdout'

set -l in '__fish_filelock_using acquire release'
complete -c filelock -n $in -l fd -x \
    -d 'Lock descriptor N that the calling shell opened'
complete -c filelock -n $in -l owner-pid -x -a '(__fish_complete_pids)' \
    -d 'The process that owns the soft lock'

set -l in '__fish_filelock_using release break-stale'
complete -c filelock -n $in -l force -d 'Whoever owns it'

set -l in '__fish_filelock_using run acquire'
complete -c filelock -n $in -l lifetime -x -d 'Soft lock: a lease of DURATION'

set -l in '__fish_filelock_using run acquire'
complete -c filelock -n $in -l slots -x \
    -d 'A semaphore: at most N holders at a time'

set -l in '__fish_filelock_using run'
complete -c filelock -n $in -s c -l command -x -d 'Run STRING with /bin/sh -c'
complete -c filelock -n $in -l inherit \
    -d 'Let the command inherit the lock descriptor'
complete -c filelock -n $in -s F -l no-fork \
    -d 'Replace filelock with the command'
complete -c filelock -n $in -l on-lost -x -a 'kill warn' \
    -d 'When the lock is lost: stop the command or only report'
complete -c filelock -n $in -l max-runtime -x \
    -d 'SIGTERM the command after DURATION'
complete -c filelock -n $in -l kill-after -x \
    -d 'With --max-runtime: SIGKILL DURATION after the SIGTERM'
complete -c filelock -n $in -s o -l close \
    -d 'Do not let the command inherit the lock'
complete -c filelock -n $in -l lost-grace -x \
    -d 'etcd: time between TERM and KILL when the lease is lost'
complete -c filelock -n $in -l fair \
    -d 'Waiters get the lock in arrival order'

complete -c filelock -n '__fish_filelock_using release' -l token -x \
    -d 'Release as the holder of this token'
complete -c filelock -n '__fish_filelock_using release' -l slot -x \
    -d "A soft semaphore's slot K"
complete -c filelock -n '__fish_filelock_using break-stale' -l dry-run \
    -d 'Only say what would be removed'

# run's command, completed as a command line of its own.
function __fish_filelock_complete_run_command
    set -l words (__fish_filelock_run_command); or return
    # Given only an empty word, __fish_complete_subcommand ignores it and
    # reads the whole command line instead (filelock's).
    if test (count $words) -eq 1 -a -z "$words[1]"
        complete -C ''
    else
        __fish_complete_subcommand --commandline $words
    end
end

complete -c filelock -n '__fish_filelock_run_command >/dev/null' -x \
    -a '(__fish_filelock_complete_run_command)'
