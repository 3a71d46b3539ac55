#!/usr/bin/env bash
# Install the Debian packages RenderHub needs when they are missing.
#   run:  tesseract (the verification gate); Noto fonts and FriBiDi, so the simulation and the
#         compositor draw Greek, Cyrillic, Arabic, Hebrew (shaped right to left) and CJK text
#   test: the above, plus Chromium (browser tests), PostgreSQL and Redis (test services)
set -euo pipefail
want=(tesseract-ocr tesseract-ocr-eng fonts-dejavu-core fonts-noto-core fonts-noto-cjk libfribidi0)
if [ "${1:-run}" = test ]; then
  # fonts-*: the typefaces of the verifier evaluation corpus (verifier_eval).
  want+=(chromium postgresql redis-server fonts-liberation2 fonts-liberation)
fi
missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "Installing Debian packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
