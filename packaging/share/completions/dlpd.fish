# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_dlpd_global_optspecs
    string join \n config= h/help V/version
end

function __fish_dlpd_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_dlpd_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_dlpd_using_subcommand
    set -l cmd (__fish_dlpd_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c dlpd -n "__fish_dlpd_needs_command" -l config -d 'Config file (default: ~/.config/dlpd/dlpd.toml, then /etc/dlpd/dlpd.toml, then built-in defaults)' -r -F
complete -c dlpd -n "__fish_dlpd_needs_command" -s h -l help -d 'Print help'
complete -c dlpd -n "__fish_dlpd_needs_command" -s V -l version -d 'Print version'
complete -c dlpd -n "__fish_dlpd_needs_command" -f -a "run" -d 'Run the daemon: watch, queue, scan, record; until SIGTERM or SIGINT (SIGHUP reloads)'
complete -c dlpd -n "__fish_dlpd_needs_command" -f -a "status" -d 'Show the daemon\'s queue, counts, last error and uptime (reads the store); exit 3 when it is not running'
complete -c dlpd -n "__fish_dlpd_needs_command" -f -a "scan" -d 'Scan files or directories once and print the findings'
complete -c dlpd -n "__fish_dlpd_needs_command" -f -a "check-config" -d 'Validate the config, run the doctor\'s checks, and print the effective config'
complete -c dlpd -n "__fish_dlpd_needs_command" -f -a "doctor" -d 'Check everything `dlpd run` needs (secrets, roots, state directory, listener, inotify, quarantine), each problem with its fix'
complete -c dlpd -n "__fish_dlpd_needs_command" -f -a "findings" -d 'List the findings in the store'
complete -c dlpd -n "__fish_dlpd_needs_command" -f -a "quarantine" -d 'List quarantined files, or put one back'
complete -c dlpd -n "__fish_dlpd_needs_command" -f -a "fleet" -d 'The fleet database every machine ships its events to'
complete -c dlpd -n "__fish_dlpd_needs_command" -f -a "hash-value" -d 'Print the scanner.allow_values entry for a value read from stdin'
complete -c dlpd -n "__fish_dlpd_needs_command" -f -a "pdf-text" -d 'dlpd\'s own: parse a PDF from stdin in a limited child process'
complete -c dlpd -n "__fish_dlpd_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dlpd -n "__fish_dlpd_using_subcommand run" -l pidfile -d 'Write the pid to this file, locked while dlpd runs' -r -F
complete -c dlpd -n "__fish_dlpd_using_subcommand run" -l config -d 'Config file (default: ~/.config/dlpd/dlpd.toml, then /etc/dlpd/dlpd.toml, then built-in defaults)' -r -F
complete -c dlpd -n "__fish_dlpd_using_subcommand run" -l daemonize -d 'Detach from the terminal, for hosts without a service manager (needs log.file)'
complete -c dlpd -n "__fish_dlpd_using_subcommand run" -s h -l help -d 'Print help'
complete -c dlpd -n "__fish_dlpd_using_subcommand status" -l config -d 'Config file (default: ~/.config/dlpd/dlpd.toml, then /etc/dlpd/dlpd.toml, then built-in defaults)' -r -F
complete -c dlpd -n "__fish_dlpd_using_subcommand status" -l json -d 'Print JSON'
complete -c dlpd -n "__fish_dlpd_using_subcommand status" -s h -l help -d 'Print help'
complete -c dlpd -n "__fish_dlpd_using_subcommand scan" -l format -d 'Output format (default: table on a terminal, else jsonl)' -r -f -a "jsonl\t'One JSON object per line, with Nightfall\'s field names'
csv\t'RFC 4180 CSV with a header row'
table\t'Aligned columns for a terminal'
sarif\t'SARIF 2.1.0 for code-scanning tools; values are always masked'"
complete -c dlpd -n "__fish_dlpd_using_subcommand scan" -s o -l output -d 'Write the findings to FILE (0600, complete or not at all) instead of stdout' -r -F
complete -c dlpd -n "__fish_dlpd_using_subcommand scan" -l min-confidence -d 'Report only findings at this confidence or above (default: scanner.min_confidence)' -r
complete -c dlpd -n "__fish_dlpd_using_subcommand scan" -l detectors -d 'Run only these detectors, comma-separated (default: scanner.detectors)' -r
complete -c dlpd -n "__fish_dlpd_using_subcommand scan" -l exclude -d 'Skip paths matching this glob (repeatable), besides watch.exclude; relative ones (`*.log`, `vendor/**`) match at any depth; `re:` takes a regex' -r
complete -c dlpd -n "__fish_dlpd_using_subcommand scan" -l baseline -d 'Leave out findings a previous report (jsonl or sarif) already holds; only new ones are printed and set the exit status' -r -F
complete -c dlpd -n "__fish_dlpd_using_subcommand scan" -s j -l threads -d 'Worker threads (default: one per core)' -r
complete -c dlpd -n "__fish_dlpd_using_subcommand scan" -l config -d 'Config file (default: ~/.config/dlpd/dlpd.toml, then /etc/dlpd/dlpd.toml, then built-in defaults)' -r -F
complete -c dlpd -n "__fish_dlpd_using_subcommand scan" -l show-values -d 'Print values and contexts unmasked (never in SARIF)'
complete -c dlpd -n "__fish_dlpd_using_subcommand scan" -l store -d 'Also record the results in the store (SQLite and CSV), with absolute paths'
complete -c dlpd -n "__fish_dlpd_using_subcommand scan" -l no-store -d 'Do not record the results (the default; kept for older scripts)'
complete -c dlpd -n "__fish_dlpd_using_subcommand scan" -l follow-symlinks -d 'Follow symlinks inside directories'
complete -c dlpd -n "__fish_dlpd_using_subcommand scan" -s q -l quiet -d 'Errors only: no warnings, progress or summary'
complete -c dlpd -n "__fish_dlpd_using_subcommand scan" -s v -l verbose -d 'Name every skipped file (-v), and more (-vv)'
complete -c dlpd -n "__fish_dlpd_using_subcommand scan" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dlpd -n "__fish_dlpd_using_subcommand check-config" -l config -d 'Config file (default: ~/.config/dlpd/dlpd.toml, then /etc/dlpd/dlpd.toml, then built-in defaults)' -r -F
complete -c dlpd -n "__fish_dlpd_using_subcommand check-config" -s h -l help -d 'Print help'
complete -c dlpd -n "__fish_dlpd_using_subcommand doctor" -l config -d 'Config file (default: ~/.config/dlpd/dlpd.toml, then /etc/dlpd/dlpd.toml, then built-in defaults)' -r -F
complete -c dlpd -n "__fish_dlpd_using_subcommand doctor" -s h -l help -d 'Print help'
complete -c dlpd -n "__fish_dlpd_using_subcommand findings" -l path -d 'Only this file, or the files under this directory' -r -F
complete -c dlpd -n "__fish_dlpd_using_subcommand findings" -l since -d 'Only files scanned since T: an RFC 3339 time, or a duration ago such as 2h or 7d' -r
complete -c dlpd -n "__fish_dlpd_using_subcommand findings" -l format -d 'Output format (default: table on a terminal, else jsonl)' -r -f -a "jsonl\t'One JSON object per line, with Nightfall\'s field names'
csv\t'RFC 4180 CSV with a header row'
table\t'Aligned columns for a terminal'
sarif\t'SARIF 2.1.0 for code-scanning tools; values are always masked'"
complete -c dlpd -n "__fish_dlpd_using_subcommand findings" -l config -d 'Config file (default: ~/.config/dlpd/dlpd.toml, then /etc/dlpd/dlpd.toml, then built-in defaults)' -r -F
complete -c dlpd -n "__fish_dlpd_using_subcommand findings" -l failed -d 'List the files dlpd gave up on, with the reason, instead of findings'
complete -c dlpd -n "__fish_dlpd_using_subcommand findings" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dlpd -n "__fish_dlpd_using_subcommand quarantine; and not __fish_seen_subcommand_from list restore help" -l config -d 'Config file (default: ~/.config/dlpd/dlpd.toml, then /etc/dlpd/dlpd.toml, then built-in defaults)' -r -F
complete -c dlpd -n "__fish_dlpd_using_subcommand quarantine; and not __fish_seen_subcommand_from list restore help" -s h -l help -d 'Print help'
complete -c dlpd -n "__fish_dlpd_using_subcommand quarantine; and not __fish_seen_subcommand_from list restore help" -f -a "list" -d 'Every quarantined (and restored) file, with its id and original path'
complete -c dlpd -n "__fish_dlpd_using_subcommand quarantine; and not __fish_seen_subcommand_from list restore help" -f -a "restore" -d 'Put a quarantined file back where it was, with its mode and times'
complete -c dlpd -n "__fish_dlpd_using_subcommand quarantine; and not __fish_seen_subcommand_from list restore help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dlpd -n "__fish_dlpd_using_subcommand quarantine; and __fish_seen_subcommand_from list" -l config -d 'Config file (default: ~/.config/dlpd/dlpd.toml, then /etc/dlpd/dlpd.toml, then built-in defaults)' -r -F
complete -c dlpd -n "__fish_dlpd_using_subcommand quarantine; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c dlpd -n "__fish_dlpd_using_subcommand quarantine; and __fish_seen_subcommand_from restore" -l config -d 'Config file (default: ~/.config/dlpd/dlpd.toml, then /etc/dlpd/dlpd.toml, then built-in defaults)' -r -F
complete -c dlpd -n "__fish_dlpd_using_subcommand quarantine; and __fish_seen_subcommand_from restore" -s h -l help -d 'Print help'
complete -c dlpd -n "__fish_dlpd_using_subcommand quarantine; and __fish_seen_subcommand_from help" -f -a "list" -d 'Every quarantined (and restored) file, with its id and original path'
complete -c dlpd -n "__fish_dlpd_using_subcommand quarantine; and __fish_seen_subcommand_from help" -f -a "restore" -d 'Put a quarantined file back where it was, with its mode and times'
complete -c dlpd -n "__fish_dlpd_using_subcommand quarantine; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dlpd -n "__fish_dlpd_using_subcommand fleet; and not __fish_seen_subcommand_from migrate serve help" -l config -d 'Config file (default: ~/.config/dlpd/dlpd.toml, then /etc/dlpd/dlpd.toml, then built-in defaults)' -r -F
complete -c dlpd -n "__fish_dlpd_using_subcommand fleet; and not __fish_seen_subcommand_from migrate serve help" -s h -l help -d 'Print help'
complete -c dlpd -n "__fish_dlpd_using_subcommand fleet; and not __fish_seen_subcommand_from migrate serve help" -f -a "migrate" -d 'Create or upgrade the fleet database\'s schema ([fleet] postgres_url), and make the coming months\' partitions; run it monthly, e.g. from a timer'
complete -c dlpd -n "__fish_dlpd_using_subcommand fleet; and not __fish_seen_subcommand_from migrate serve help" -f -a "serve" -d 'Serve the dashboard over the fleet database: machines, sensitive files across them, values on several machines, anomalies. It takes the [api] token; until SIGTERM or SIGINT'
complete -c dlpd -n "__fish_dlpd_using_subcommand fleet; and not __fish_seen_subcommand_from migrate serve help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dlpd -n "__fish_dlpd_using_subcommand fleet; and __fish_seen_subcommand_from migrate" -l config -d 'Config file (default: ~/.config/dlpd/dlpd.toml, then /etc/dlpd/dlpd.toml, then built-in defaults)' -r -F
complete -c dlpd -n "__fish_dlpd_using_subcommand fleet; and __fish_seen_subcommand_from migrate" -s h -l help -d 'Print help'
complete -c dlpd -n "__fish_dlpd_using_subcommand fleet; and __fish_seen_subcommand_from serve" -l listen -d 'Address to listen on (loopback by default; put a TLS proxy in front to serve others)' -r
complete -c dlpd -n "__fish_dlpd_using_subcommand fleet; and __fish_seen_subcommand_from serve" -l config -d 'Config file (default: ~/.config/dlpd/dlpd.toml, then /etc/dlpd/dlpd.toml, then built-in defaults)' -r -F
complete -c dlpd -n "__fish_dlpd_using_subcommand fleet; and __fish_seen_subcommand_from serve" -s h -l help -d 'Print help'
complete -c dlpd -n "__fish_dlpd_using_subcommand fleet; and __fish_seen_subcommand_from help" -f -a "migrate" -d 'Create or upgrade the fleet database\'s schema ([fleet] postgres_url), and make the coming months\' partitions; run it monthly, e.g. from a timer'
complete -c dlpd -n "__fish_dlpd_using_subcommand fleet; and __fish_seen_subcommand_from help" -f -a "serve" -d 'Serve the dashboard over the fleet database: machines, sensitive files across them, values on several machines, anomalies. It takes the [api] token; until SIGTERM or SIGINT'
complete -c dlpd -n "__fish_dlpd_using_subcommand fleet; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dlpd -n "__fish_dlpd_using_subcommand hash-value" -l config -d 'Config file (default: ~/.config/dlpd/dlpd.toml, then /etc/dlpd/dlpd.toml, then built-in defaults)' -r -F
complete -c dlpd -n "__fish_dlpd_using_subcommand hash-value" -s h -l help -d 'Print help'
complete -c dlpd -n "__fish_dlpd_using_subcommand pdf-text" -l config -d 'Config file (default: ~/.config/dlpd/dlpd.toml, then /etc/dlpd/dlpd.toml, then built-in defaults)' -r -F
complete -c dlpd -n "__fish_dlpd_using_subcommand pdf-text" -s h -l help -d 'Print help'
complete -c dlpd -n "__fish_dlpd_using_subcommand help; and not __fish_seen_subcommand_from run status scan check-config doctor findings quarantine fleet hash-value pdf-text help" -f -a "run" -d 'Run the daemon: watch, queue, scan, record; until SIGTERM or SIGINT (SIGHUP reloads)'
complete -c dlpd -n "__fish_dlpd_using_subcommand help; and not __fish_seen_subcommand_from run status scan check-config doctor findings quarantine fleet hash-value pdf-text help" -f -a "status" -d 'Show the daemon\'s queue, counts, last error and uptime (reads the store); exit 3 when it is not running'
complete -c dlpd -n "__fish_dlpd_using_subcommand help; and not __fish_seen_subcommand_from run status scan check-config doctor findings quarantine fleet hash-value pdf-text help" -f -a "scan" -d 'Scan files or directories once and print the findings'
complete -c dlpd -n "__fish_dlpd_using_subcommand help; and not __fish_seen_subcommand_from run status scan check-config doctor findings quarantine fleet hash-value pdf-text help" -f -a "check-config" -d 'Validate the config, run the doctor\'s checks, and print the effective config'
complete -c dlpd -n "__fish_dlpd_using_subcommand help; and not __fish_seen_subcommand_from run status scan check-config doctor findings quarantine fleet hash-value pdf-text help" -f -a "doctor" -d 'Check everything `dlpd run` needs (secrets, roots, state directory, listener, inotify, quarantine), each problem with its fix'
complete -c dlpd -n "__fish_dlpd_using_subcommand help; and not __fish_seen_subcommand_from run status scan check-config doctor findings quarantine fleet hash-value pdf-text help" -f -a "findings" -d 'List the findings in the store'
complete -c dlpd -n "__fish_dlpd_using_subcommand help; and not __fish_seen_subcommand_from run status scan check-config doctor findings quarantine fleet hash-value pdf-text help" -f -a "quarantine" -d 'List quarantined files, or put one back'
complete -c dlpd -n "__fish_dlpd_using_subcommand help; and not __fish_seen_subcommand_from run status scan check-config doctor findings quarantine fleet hash-value pdf-text help" -f -a "fleet" -d 'The fleet database every machine ships its events to'
complete -c dlpd -n "__fish_dlpd_using_subcommand help; and not __fish_seen_subcommand_from run status scan check-config doctor findings quarantine fleet hash-value pdf-text help" -f -a "hash-value" -d 'Print the scanner.allow_values entry for a value read from stdin'
complete -c dlpd -n "__fish_dlpd_using_subcommand help; and not __fish_seen_subcommand_from run status scan check-config doctor findings quarantine fleet hash-value pdf-text help" -f -a "pdf-text" -d 'dlpd\'s own: parse a PDF from stdin in a limited child process'
complete -c dlpd -n "__fish_dlpd_using_subcommand help; and not __fish_seen_subcommand_from run status scan check-config doctor findings quarantine fleet hash-value pdf-text help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dlpd -n "__fish_dlpd_using_subcommand help; and __fish_seen_subcommand_from quarantine" -f -a "list" -d 'Every quarantined (and restored) file, with its id and original path'
complete -c dlpd -n "__fish_dlpd_using_subcommand help; and __fish_seen_subcommand_from quarantine" -f -a "restore" -d 'Put a quarantined file back where it was, with its mode and times'
complete -c dlpd -n "__fish_dlpd_using_subcommand help; and __fish_seen_subcommand_from fleet" -f -a "migrate" -d 'Create or upgrade the fleet database\'s schema ([fleet] postgres_url), and make the coming months\' partitions; run it monthly, e.g. from a timer'
complete -c dlpd -n "__fish_dlpd_using_subcommand help; and __fish_seen_subcommand_from fleet" -f -a "serve" -d 'Serve the dashboard over the fleet database: machines, sensitive files across them, values on several machines, anomalies. It takes the [api] token; until SIGTERM or SIGINT'
