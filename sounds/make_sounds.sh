#!/usr/bin/env bash
# Regenerate ivr400's default prompts and ringback tone, reproducibly.
#
# Needs: espeak-ng (Mandarin voice "cmn") and sox  (apt-get install espeak-ng sox)
# Output: 8 kHz mono 16-bit signed PCM WAV files next to this script, which is
# what Asterisk plays without transcoding on a G.711 call.
#
# Determinism: espeak-ng synthesis is deterministic for a given version; sox runs
# with -D (no dither) and -R (fixed random seed, used by `synth pluck`), and WAV
# headers carry no timestamp. Two runs give byte-identical files (see README.md).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here}"

VOICE="cmn"      # espeak-ng Mandarin (sit/cmn); `espeak-ng --voices=zh` lists it
SPEED=175        # espeak-ng default; the cmn voice is already unhurried
PITCH=45
RATE=8000

for tool in espeak-ng sox; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "make_sounds.sh: $tool not found; install it: apt-get install espeak-ng sox" >&2
    exit 1
  }
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

mkdir -p "$out"

# Telephone-ready output: 8 kHz, mono, 16-bit signed, no dither, fixed seed.
SOX=(sox -D -R -V1)
OUTFMT=(-r "$RATE" -c 1 -b 16 -e signed-integer)

speak() { # speak NAME TEXT
  local name="$1" text="$2"
  espeak-ng -v "$VOICE" -s "$SPEED" -p "$PITCH" -w "$work/$name.raw.wav" -- "$text"
  # highpass removes DC/rumble; silence/reverse trims espeak's edge silence
  # (smaller files, snappier menus); rate -v is sox's best resampler; gain -n -3
  # normalizes every prompt to the same peak so they sound equally loud; short
  # pads keep the first syllable from being clipped by media setup.
  "${SOX[@]}" "$work/$name.raw.wav" "${OUTFMT[@]}" "$work/$name.wav" \
    highpass 80 silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse \
    rate -v "$RATE" pad 0.10 0.20 gain -n -3
  mv "$work/$name.wav" "$out/$name.wav"
}

speak ivr400-welcome        "您好，欢迎致电。请按一号键咨询销售，按二号键咨询售后服务。"
speak ivr400-invalid        "输入有误，请重新输入。"
speak ivr400-no-input       "您没有输入，请重新选择。"
speak ivr400-leave-message  "坐席忙，请在提示音后留言，按井号键结束。"
speak ivr400-goodbye        "感谢您的来电，再见。"
speak ivr400-closed         "现在是非工作时间，请在提示音后留言。"
speak ivr400-blocked        "对不起，您的呼叫无法接通。"
speak ivr400-unknown-number "您拨打的号码未开通，请核对后再拨。"
speak ivr400-survey         "请对本次服务进行评价：非常满意请按五，满意请按四，一般请按三，不满意请按二，非常不满意请按一。"
speak ivr400-survey-thanks  "感谢您的评价，再见。"
speak ivr400-balance-low    "对不起，该号码余额不足，暂时无法接通，请稍后再拨。"
speak ivr400-clicktocall-consent "您好，这里是企业客服回拨电话。接通请按一，否则请挂机。"

# Ringback: a soft plucked arpeggio over I-vi-IV-V in C (C, Am, F, G), 4 chords x
# 6 notes x 1/3 s = 8 s. It ends on G (the dominant), so it leads back into C
# when Asterisk loops it as music on hold / ringback.
ringback() {
  local step="0.333333" note_len="1.4"
  local -a notes=(
    C4 E4 G4 C5 G4 E4
    A3 C4 E4 A4 E4 C4
    F3 A3 C4 F4 C4 A3
    G3 B3 D4 G4 D4 B3
  )
  local total="8.0"
  local -a parts=()
  local i=0 n offset tail
  for n in "${notes[@]}"; do
    offset="$(awk -v i="$i" -v s="$step" 'BEGIN{printf "%.6f", i*s}')"
    tail="$(awk -v t="$total" -v o="$offset" -v l="$note_len" 'BEGIN{r=t-o-l; if (r<0) r=0; printf "%.6f", r}')"
    # pluck (Karplus-Strong) decays naturally; the quarter-sine fade makes each
    # note die out softly; pad places it on the timeline.
    "${SOX[@]}" -n "${OUTFMT[@]}" "$work/note$i.wav" \
      synth "$note_len" pluck "$n" fade q 0.005 "$note_len" 1.0 gain -8 pad "$offset" "$tail"
    parts+=("$work/note$i.wav")
    i=$((i + 1))
  done
  # Mix all notes, roll off the pluck's bright upper harmonics (soft, not
  # buzzy on G.711), add a touch of room, trim to exactly 8 s (a reverb tail
  # would break the loop), fade the edges so the loop point is click-free.
  # Peak -6 dBFS: background music should sit under the prompts' -3 dBFS.
  "${SOX[@]}" -m "${parts[@]}" "${OUTFMT[@]}" "$work/ringback.wav" \
    lowpass 1500 lowpass 1500 reverb 30 50 60 trim 0 "$total" \
    fade t 0.02 "$total" 0.25 gain -n -6
  mv "$work/ringback.wav" "$out/ivr400-ringback.wav"
}
ringback

echo "make_sounds.sh: wrote $(ls "$out"/ivr400-*.wav | wc -l) files to $out"
