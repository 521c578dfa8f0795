#!/bin/sh
# make_certs.sh OUTDIR: TLS fixtures for the stand-in and the daemon's TLS tests.
#
#   ca.crt ca.key                   test CA (backdated 30 days, valid 10 years)
#   server.crt server.key           localhost + IP 127.0.0.1, signed by the CA
#   wrong-host.crt wrong-host.key   wrong.example only, signed by the CA
#   expired.crt expired.key         localhost + 127.0.0.1, signed by the CA, expired 9 days ago
#   self-signed.crt self-signed.key localhost + 127.0.0.1, self-signed
#
# Idempotent: a complete OUTDIR is left alone. The set is built in a temporary directory and
# renamed into place, so concurrent runs never mix files of two CAs.
set -eu

out=${1:?usage: make_certs.sh OUTDIR}
out=${out%/}
[ -f "$out/.complete" ] && exit 0

mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d "$out.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

# faketime shifts the signing clock for the backdated CA and the expired certificate.
FAKETIME_DONT_FAKE_MONOTONIC=1
export FAKETIME_DONT_FAKE_MONOTONIC

newkey="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"

faketime -f '-30d' openssl req -x509 $newkey -keyout ca.key -out ca.crt -days 3650 \
    -subj /CN=booklore-standin-test-ca \
    -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null

# leaf NAME CN SAN DAYS [FAKETIME-OFFSET]
leaf() {
    openssl req $newkey -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
    printf '%s\n' "subjectAltName=$3" "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
        "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" > "$1.ext"
    if [ $# -ge 5 ]; then
        faketime -f "$5" openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key \
            -CAcreateserial -out "$1.crt" -days "$4" -extfile "$1.ext" 2>/dev/null
    else
        openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
            -out "$1.crt" -days "$4" -extfile "$1.ext" 2>/dev/null
    fi
    rm -f "$1.csr" "$1.ext"
}

leaf server localhost "DNS:localhost,IP:127.0.0.1" 3650
leaf wrong-host wrong.example "DNS:wrong.example" 3650
leaf expired localhost "DNS:localhost,IP:127.0.0.1" 1 '-10d'

openssl req -x509 $newkey -keyout self-signed.key -out self-signed.crt -days 3650 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -addext basicConstraints=critical,CA:FALSE 2>/dev/null

rm -f ca.srl
chmod 600 ./*.key
chmod 755 .
touch .complete

trap - EXIT
cd /
if ! mv -T "$tmp" "$out" 2>/dev/null; then
    # OUTDIR exists and is not empty: keep a complete set made meanwhile, else fill it in.
    if [ ! -f "$out/.complete" ]; then
        for f in ca server wrong-host expired self-signed; do
            cp "$tmp/$f.key" "$tmp/$f.crt" "$out/"
        done
        touch "$out/.complete"
    fi
    rm -rf "$tmp"
fi
