#!/usr/bin/env bash
# Coverage-guided fuzzing of every input PEFTKit reads from strangers (libFuzzer + AddressSanitizer).
#
#   Scripts/fuzz.sh                       # every target, 60 s each
#   Scripts/fuzz.sh --seconds 600 FuzzGGUF
#   Scripts/fuzz.sh --runs 5000           # what CI does: a fixed number of executions per target
#
# Targets live in Fuzz/Sources (one per input kind); seed corpora in Fuzz/Corpus are copied to
# .build-fuzz/corpus, which grows as libFuzzer finds new coverage (never committed automatically).
# Limits: 1 s per input (-timeout), 2 GB of memory (-rss_limit_mb). A crash, leak, timeout or
# memory blow-up leaves its input in .build-fuzz/artifacts/<target>/ and makes the script fail;
# turn each finding into a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."

budget=(-max_total_time=60)
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) budget=(-max_total_time="$2"); shift 2 ;;
        --runs) budget=(-runs="$2"); shift 2 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) targets+=("$1"); shift ;;
    esac
done
if [ ${#targets[@]} -eq 0 ]; then
    targets=(FuzzGGUF FuzzSafetensors FuzzJSON FuzzTokenizer FuzzEncode FuzzChatTemplate FuzzModelConfiguration FuzzAdapterConfiguration FuzzDataset FuzzHTTPRequest)
fi

scratch=.build-fuzz
echo "== building ${#targets[@]} fuzz targets (release, libFuzzer + AddressSanitizer) =="
# SwiftPM's --sanitize instruments only the fuzz package; -Xswiftc instruments PEFTKit's modules too.
# Only the fuzz products: the main package's executables cannot be linked against libFuzzer's main.
for target in "${targets[@]}"; do
    swift build --package-path Fuzz -c release --scratch-path "$scratch" --sanitize fuzzer --sanitize address \
        -Xswiftc -sanitize=fuzzer,address --product "$target"
done

status=0
for target in "${targets[@]}"; do
    corpus="$scratch/corpus/$target"
    artifacts="$scratch/artifacts/$target"
    mkdir -p "$corpus" "$artifacts"
    cp -n Fuzz/Corpus/"$target"/* "$corpus"/ 2>/dev/null || true
    log="$scratch/$target.log"
    leaks=1
    # FuzzEncode and FuzzDataset load their tokenizers once into a global; LeakSanitizer reports those ICU regular
    # expressions at exit although they live for the whole process. Leaks per input would still show
    # in FuzzTokenizer, which loads and drops a tokenizer on every input.
    if [ "$target" = FuzzEncode ] || [ "$target" = FuzzDataset ]; then leaks=0; fi
    if ASAN_OPTIONS="detect_leaks=$leaks" "$scratch/release/$target" "${budget[@]}" -detect_leaks=$leaks -rss_limit_mb=2048 -timeout=1 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" "$corpus" > "$log" 2>&1; then
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
        seconds=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | grep -o 'in [0-9]*' | grep -o '[0-9]*' || echo "?")
        echo "$target: ok — $runs executions in ${seconds:-?} s, corpus $(ls "$corpus" | wc -l) inputs"
    else
        echo "$target: FAILED — see $log and $artifacts"
        tail -30 "$log"
        status=1
    fi
done
exit $status
