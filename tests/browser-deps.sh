#!/usr/bin/env bash
# What the chat room's browser test (bindings/python/tests/test_chat_browser.py)
# needs: Debian's headless Chromium and its chromedriver, and Selenium from
# PyPI. Idempotent: installs only what is missing, never reads standard input.
#
#   bash tests/browser-deps.sh          # as root, or with passwordless sudo
#
# Selenium is pointed at /usr/bin/chromium and /usr/bin/chromedriver by the
# test, so Selenium Manager never downloads a browser or a driver.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
PYTHON=${PYTHON:-python3}

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
    SUDO="sudo -n"
fi

need=()
[[ -x /usr/bin/chromium ]] || need+=(chromium)
[[ -x /usr/bin/chromedriver ]] || need+=(chromium-driver)
if ((${#need[@]})); then
    echo "browser-deps: installing ${need[*]}"
    $SUDO apt-get update -qq </dev/null
    $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null
fi

if ! "$PYTHON" -c 'import selenium' 2>/dev/null; then
    echo "browser-deps: installing selenium"
    "$PYTHON" -m pip install -q selenium </dev/null
fi

# Report what is there, so a CI log shows which browser ran the test.
for bin in /usr/bin/chromium /usr/bin/chromedriver; do
    [[ -x $bin ]] || { echo "browser-deps: $bin is still missing" >&2; exit 1; }
done
echo "browser-deps: $(/usr/bin/chromium --version 2>/dev/null | head -1);" \
     "$(/usr/bin/chromedriver --version 2>/dev/null | head -1);" \
     "selenium $("$PYTHON" -c 'import selenium; print(selenium.__version__)')"
