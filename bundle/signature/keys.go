package signature

import (
	"crypto"
	"crypto/elliptic"
	"errors"
	"fmt"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"bulwark.dev/bulwark/internal/exitcode"
)

// ErrSignature marks a bundle whose signature is missing or does not verify (exit 1).
var ErrSignature = errors.New("signature refused")

// Signer signs payloads; LoadSigner reads one from a cosign private key.
type Signer = signature.Signer

// Verifier checks signatures; LoadVerifier reads one from a PEM public key.
type Verifier = signature.Verifier

// GenerateKeyPair returns an ECDSA P-256 key pair in cosign's format: the private key
// encrypted with password (ENCRYPTED SIGSTORE PRIVATE KEY), the public key as PEM.
func GenerateKeyPair(password []byte) (privPEM, pubPEM []byte, err error) {
	return cryptoutils.GeneratePEMEncodedECDSAKeyPair(elliptic.P256(), func(bool) ([]byte, error) { return password, nil })
}

// LoadSigner reads a cosign private key (encrypted or not).
func LoadSigner(privPEM, password []byte) (signature.SignerVerifier, error) {
	priv, err := cryptoutils.UnmarshalPEMToPrivateKey(privPEM, func(bool) ([]byte, error) { return password, nil })
	if err != nil {
		return nil, exitcode.AsBadInput(fmt.Errorf("reading the signing key (wrong password?): %w", err))
	}
	sv, err := signature.LoadSignerVerifier(priv, crypto.SHA256)
	if err != nil {
		return nil, exitcode.AsBadInput(fmt.Errorf("loading the signing key: %w", err))
	}
	return sv, nil
}

// LoadVerifier reads a PEM public key.
func LoadVerifier(pubPEM []byte) (signature.Verifier, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pubPEM)
	if err != nil {
		return nil, exitcode.AsBadInput(fmt.Errorf("reading the public key: %w", err))
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, exitcode.AsBadInput(fmt.Errorf("loading the public key: %w", err))
	}
	return v, nil
}
