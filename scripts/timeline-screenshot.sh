#!/usr/bin/env bash
# Renders a timeline page (make demo prints its path) with headless
# Chromium, as a person would open it, and checks the screenshot shows the
# lanes, the crash and the takeover (internal/timeline/shotcheck).
#
#   scripts/timeline-screenshot.sh /tmp/redlease-demo-*/timeline.html [lanes]
#
# Needs Debian's chromium (apt-get install -y chromium). Not part of CI:
# CI parses the SVG instead (internal/timeline, internal/demo tests).
set -euo pipefail
page=${1:?usage: $0 timeline.html [lanes]}
lanes=${2:-3}
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "chromium not found: apt-get install -y chromium" >&2
  exit 2
fi
shot="${page%.html}.png"
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1200,420 \
  --screenshot="$shot" "file://$(realpath "$page")" 2>/dev/null
echo "screenshot: $shot"
cd "$(dirname "$0")/.."
go run ./internal/timeline/shotcheck -lanes "$lanes" "$shot"
