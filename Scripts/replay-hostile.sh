#!/usr/bin/env bash
# Replays a directory of hostile inputs through the peftkit CLI and counts what happened.
#
#   Scripts/replay-hostile.sh DIR [--timeout SECONDS] [--memory-mb MB]
#
# Each entry of DIR is run through every command that reads it:
#   *.gguf                 inspect, tokenize, generate (2 tokens)
#   *.safetensors          inspect
#   a folder               inspect, tokenize (plain and --chat), generate (2 tokens)
#   other files            tokenize (as a tokenizer.json)
# Outcomes: ok (exit 0), clean error (exit 1, one line on stderr), usage error (exit 2),
# crash (killed by a signal), hang (over --timeout, default 10 s), memory blow-up (peak RSS over
# --memory-mb, default 2048). Exits 1 if any crash, hang or blow-up happened, listing them.
# The peftkit binary is built in release mode first.
set -uo pipefail
cd "$(dirname "$0")/.."
dir="${1:?usage: Scripts/replay-hostile.sh DIR [--timeout S] [--memory-mb MB]}"; shift
limit=10; memory=2048
while [ $# -gt 0 ]; do
    case "$1" in
        --timeout) limit="$2"; shift 2 ;;
        --memory-mb) memory="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
swift build -c release --product peftkit >/dev/null || exit 1
tool=.build/release/peftkit
declare -A counts=([ok]=0 [error]=0 [usage]=0 [crash]=0 [hang]=0 [memory]=0)
failures=()
run() {  # run NAME ARGS...
    local name="$1"; shift
    local stats; stats=$(mktemp)
    /usr/bin/time -f "%M" -o "$stats" timeout -s KILL "$limit" "$tool" "$@" >/dev/null 2>&1
    local status=$?
    local rss_kb; rss_kb=$(tail -1 "$stats" 2>/dev/null | grep -o '^[0-9]*' || echo 0); rm -f "$stats"
    local outcome
    if [ "$status" -eq 137 ] || [ "$status" -eq 124 ]; then outcome=hang
    elif [ "$status" -gt 128 ]; then outcome=crash
    elif [ "${rss_kb:-0}" -gt $((memory * 1024)) ]; then outcome=memory
    elif [ "$status" -eq 0 ]; then outcome=ok
    elif [ "$status" -eq 1 ]; then outcome=error
    elif [ "$status" -eq 2 ]; then outcome=usage
    else outcome=crash
    fi
    counts[$outcome]=$((counts[$outcome] + 1))
    case "$outcome" in crash|hang|memory) failures+=("$outcome: $name ($*) status $status, $((rss_kb / 1024)) MB") ;; esac
}
for entry in "$dir"/*; do
    name=$(basename "$entry")
    if [ -d "$entry" ]; then
        run "$name" inspect --model "$entry"
        run "$name" tokenize --model "$entry" --text "Hello world"
        run "$name" tokenize --model "$entry" --text "Hello world" --chat
        run "$name" generate --model "$entry" --prompt "Hi" --max-tokens 2
    else
        case "$entry" in
            *.gguf)
                run "$name" inspect --model "$entry"
                run "$name" tokenize --model "$entry" --text "Hello world"
                run "$name" generate --model "$entry" --prompt "Hi" --max-tokens 2 ;;
            *.safetensors) run "$name" inspect --model "$entry" ;;
            *) run "$name" tokenize --model "$entry" --text "Hello world" ;;
        esac
    fi
done
echo "runs: ok ${counts[ok]}, clean error ${counts[error]}, usage error ${counts[usage]}, crash ${counts[crash]}, hang ${counts[hang]}, memory blow-up ${counts[memory]}"
for failure in "${failures[@]}"; do echo "  $failure"; done
[ ${#failures[@]} -eq 0 ]
