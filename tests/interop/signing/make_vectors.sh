#!/bin/sh
# Regenerate the interop vectors in this folder: municipal XML signed by ANOTHER implementation
# (xmlsec1, Debian package "xmlsec1", here 1.2.37 with OpenSSL) with keys made by the openssl CLI.
# Our verifier (adapter.signing.verify_document) must accept the valid ones against ca-*.pem and
# refuse the others with the reason in manifest.yaml. Run from the repository root:
#     sh tests/interop/signing/make_vectors.sh
# Needs: openssl, xmlsec1, and the adapter (for the unsigned document, document.xml).
# The private keys are made in a temporary folder and thrown away; only certificates are kept.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
DAYS=7300   # twenty years, so that the committed vectors stay valid

adapter to-xml profiles/examples/Bundle-lisn-example-submission.json > "$HERE/document.xml"

cat > "$WORK/ext.cnf" <<'CNF'
[ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, nonRepudiation
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF

# make_pki NAME KEYOPTS: a CA (ca-NAME.pem, kept) and a signer (key and cert, in $WORK)
make_pki() {
  name=$1; shift
  openssl genpkey "$@" -out "$WORK/ca-$name.key" 2>/dev/null
  openssl req -x509 -new -key "$WORK/ca-$name.key" -days $DAYS -sha256 \
    -subj "/C=SE/O=LISN interop vectors/CN=LISN INTEROP TEST CA $name - NOT FOR PRODUCTION" \
    -extensions ca -config "$WORK/ext.cnf" -out "$HERE/ca-$name.pem" 2>/dev/null || \
  openssl req -x509 -new -key "$WORK/ca-$name.key" -days $DAYS -sha256 \
    -subj "/C=SE/O=LISN interop vectors/CN=LISN INTEROP TEST CA $name - NOT FOR PRODUCTION" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$HERE/ca-$name.pem"
  openssl genpkey "$@" -out "$WORK/$name.key" 2>/dev/null
  openssl req -new -key "$WORK/$name.key" -subj "/C=SE/O=LISN interop vectors/CN=xmlsec1 signer $name - NOT FOR PRODUCTION" \
    -out "$WORK/$name.csr"
  openssl x509 -req -in "$WORK/$name.csr" -CA "$HERE/ca-$name.pem" -CAkey "$WORK/ca-$name.key" -CAcreateserial -CAserial "$WORK/$name.srl" \
    -days $DAYS -sha256 -extfile "$WORK/ext.cnf" -extensions leaf -out "$WORK/$name.crt" 2>/dev/null
}
make_pki rsa -algorithm RSA -pkeyopt rsa_keygen_bits:3072
make_pki ec -algorithm EC -pkeyopt ec_paramgen_curve:P-256
make_pki rogue -algorithm EC -pkeyopt ec_paramgen_curve:P-256
rm -f "$HERE/ca-rogue.pem"   # the rogue CA is deliberately NOT kept: its signatures must be untrusted

# template SIGALG DIGESTALG EXTRA_REFERENCE: document.xml with an enveloped ds:Signature template
template() {
  sed "s|</intyg>|<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/><ds:SignatureMethod Algorithm=\"$1\"/><ds:Reference URI=\"\"><ds:Transforms><ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/><ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/></ds:Transforms><ds:DigestMethod Algorithm=\"$2\"/><ds:DigestValue/></ds:Reference>$3</ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature></intyg>|" \
    "$HERE/document.xml"
}
SHA256=http://www.w3.org/2001/04/xmlenc#sha256
SHA1=http://www.w3.org/2000/09/xmldsig#sha1
RSA256=http://www.w3.org/2001/04/xmldsig-more#rsa-sha256
RSA1=http://www.w3.org/2000/09/xmldsig#rsa-sha1
EC256=http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256
SECOND_REF="<ds:Reference URI=\"#svar\"><ds:Transforms><ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/></ds:Transforms><ds:DigestMethod Algorithm=\"$SHA256\"/><ds:DigestValue/></ds:Reference>"

# sign OUT KEYNAME SIGALG DIGESTALG [EXTRA_REFERENCE] [xmlsec1 options]
sign() {
  out=$1 key=$2 sig=$3 dig=$4 extra=${5:-}
  shift 5 || shift $#
  template "$sig" "$dig" "$extra" > "$WORK/tmpl.xml"
  xmlsec1 --sign --privkey-pem "$WORK/$key.key,$WORK/$key.crt" "$@" --output "$HERE/$out" "$WORK/tmpl.xml"
}
sign xmlsec1-rsa-sha256.xml rsa "$RSA256" "$SHA256" ""
sign xmlsec1-ecdsa-sha256.xml ec "$EC256" "$SHA256" ""
sign xmlsec1-rsa-sha1.xml rsa "$RSA1" "$SHA1" ""
sign xmlsec1-rogue-ca.xml rogue "$EC256" "$SHA256" ""
# signature wrapping: a second signed reference to an element inside the document
sed 's#<svar>#<svar Id="svar">#' "$HERE/document.xml" > "$WORK/doc-id.xml"
cp "$HERE/document.xml" "$WORK/document.orig" && cp "$WORK/doc-id.xml" "$HERE/document.xml"
sign xmlsec1-two-references.xml rsa "$RSA256" "$SHA256" "$SECOND_REF" --id-attr:Id svar
cp "$WORK/document.orig" "$HERE/document.xml"
# one character changed after signing
sed 's#<kommunkod>0180</kommunkod>#<kommunkod>0181</kommunkod>#' "$HERE/xmlsec1-rsa-sha256.xml" > "$HERE/xmlsec1-rsa-sha256-tampered.xml"

# every valid vector must verify with xmlsec1 itself
xmlsec1 --verify --trusted-pem "$HERE/ca-rsa.pem" "$HERE/xmlsec1-rsa-sha256.xml" 2>/dev/null
xmlsec1 --verify --trusted-pem "$HERE/ca-ec.pem" "$HERE/xmlsec1-ecdsa-sha256.xml" 2>/dev/null
xmlsec1 --verify --trusted-pem "$HERE/ca-rsa.pem" --id-attr:Id svar "$HERE/xmlsec1-two-references.xml" 2>/dev/null
echo "vectors written to $HERE"
