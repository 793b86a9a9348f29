#!/bin/sh
# Makes the spreadsheet fixtures with LibreOffice, as a user's spreadsheet
# program writes them: each .fods here (LibreOffice's flat XML, which
# carries the cells' number formats, merges, formulas and sheets) is saved
# as .xlsx and .ods. The results are committed, so the tests need no
# LibreOffice; run this again after changing a .fods:
#
#   apt-get install -y --no-install-recommends libreoffice-calc
#   sh internal/recipients/testdata/make-spreadsheets.sh
#
# Made with LibreOffice 7.4.7.2 (Debian 12).
set -eu
cd "$(dirname "$0")"
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
for format in xlsx ods; do
  soffice -env:UserInstallation="file://$profile" --headless \
    --convert-to "$format" --outdir . spreadsheets.fods
done
soffice -env:UserInstallation="file://$profile" --headless \
  --convert-to xlsx --outdir . bad-address.fods
