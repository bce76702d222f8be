package types

import (
	"github.com/backseal/backseal/aptos/bcs"
)

// Public keys and signatures (Ed25519PublicKey, Secp256k1EcdsaSignature, ...)
// are newtypes over a Vec<u8> in BCS (aptos-crypto's SerializeKey derive), so
// they are plain byte slices here; their lengths are the crypto library's
// business, not the encoding's, and are not checked.

// TransactionAuthenticatorKind is the variant index of a TransactionAuthenticator.
type TransactionAuthenticatorKind uint32

// TransactionAuthenticator variants (aptos.yaml).
const (
	TxnAuthEd25519 TransactionAuthenticatorKind = iota
	TxnAuthMultiEd25519
	TxnAuthMultiAgent
	TxnAuthFeePayer
	TxnAuthSingleSender
)

// TransactionAuthenticator authenticates a whole signed transaction.
// Ed25519 and MultiEd25519 use PublicKey and Signature; MultiAgent and
// FeePayer use Sender, SecondaryAddresses and SecondarySigners, FeePayer
// also FeePayerAddress and FeePayerSigner; SingleSender uses Sender.
//
// Rust: types/src/transaction/authenticator.rs, TransactionAuthenticator.
type TransactionAuthenticator struct {
	Kind               TransactionAuthenticatorKind
	PublicKey          []byte
	Signature          []byte
	Sender             *AccountAuthenticator
	SecondaryAddresses []Address
	SecondarySigners   []AccountAuthenticator
	FeePayerAddress    Address
	FeePayerSigner     *AccountAuthenticator
}

// Decode reads a TransactionAuthenticator.
func (a *TransactionAuthenticator) Decode(r *bcs.Reader) {
	v := r.Variant()
	a.Kind = TransactionAuthenticatorKind(v)
	switch a.Kind {
	case TxnAuthEd25519, TxnAuthMultiEd25519:
		a.PublicKey = readBytes(r)
		a.Signature = readBytes(r)
	case TxnAuthMultiAgent, TxnAuthFeePayer:
		a.Sender = new(AccountAuthenticator)
		a.Sender.Decode(r)
		if n := r.Len(AddressLength); n > 0 {
			a.SecondaryAddresses = make([]Address, n)
			for i := range a.SecondaryAddresses {
				a.SecondaryAddresses[i] = readAddress(r)
			}
		}
		if n := r.Len(1); n > 0 {
			a.SecondarySigners = make([]AccountAuthenticator, n)
			for i := range a.SecondarySigners {
				a.SecondarySigners[i].Decode(r)
			}
		}
		if a.Kind == TxnAuthFeePayer {
			a.FeePayerAddress = readAddress(r)
			a.FeePayerSigner = new(AccountAuthenticator)
			a.FeePayerSigner.Decode(r)
		}
	case TxnAuthSingleSender:
		a.Sender = new(AccountAuthenticator)
		a.Sender.Decode(r)
	default:
		r.Unknown("TransactionAuthenticator", v)
	}
}

// Encode writes a TransactionAuthenticator.
func (a *TransactionAuthenticator) Encode(w *bcs.Writer) {
	w.Variant(uint32(a.Kind))
	switch a.Kind {
	case TxnAuthEd25519, TxnAuthMultiEd25519:
		w.Bytes(a.PublicKey)
		w.Bytes(a.Signature)
	case TxnAuthMultiAgent, TxnAuthFeePayer:
		a.Sender.Encode(w)
		w.Len(len(a.SecondaryAddresses))
		for _, addr := range a.SecondaryAddresses {
			writeAddress(w, addr)
		}
		w.Len(len(a.SecondarySigners))
		for i := range a.SecondarySigners {
			a.SecondarySigners[i].Encode(w)
		}
		if a.Kind == TxnAuthFeePayer {
			writeAddress(w, a.FeePayerAddress)
			a.FeePayerSigner.Encode(w)
		}
	case TxnAuthSingleSender:
		a.Sender.Encode(w)
	}
}

// AccountAuthenticatorKind is the variant index of an AccountAuthenticator.
type AccountAuthenticatorKind uint32

// AccountAuthenticator variants (aptos.yaml).
const (
	AccountAuthEd25519 AccountAuthenticatorKind = iota
	AccountAuthMultiEd25519
	AccountAuthSingleKey
	AccountAuthMultiKey
	AccountAuthNone // NoAccountAuthenticator
	AccountAuthAbstraction
)

// AccountAuthenticator authenticates one account of a transaction.
// Ed25519 and MultiEd25519 use PublicKey and Signature; SingleKey,
// MultiKey and Abstraction their own field.
//
// Rust: types/src/transaction/authenticator.rs, AccountAuthenticator.
type AccountAuthenticator struct {
	Kind        AccountAuthenticatorKind
	PublicKey   []byte
	Signature   []byte
	SingleKey   *SingleKeyAuthenticator
	MultiKey    *MultiKeyAuthenticator
	Abstraction *AbstractionAuthenticator
}

// Decode reads an AccountAuthenticator.
func (a *AccountAuthenticator) Decode(r *bcs.Reader) {
	v := r.Variant()
	a.Kind = AccountAuthenticatorKind(v)
	switch a.Kind {
	case AccountAuthEd25519, AccountAuthMultiEd25519:
		a.PublicKey = readBytes(r)
		a.Signature = readBytes(r)
	case AccountAuthSingleKey:
		a.SingleKey = new(SingleKeyAuthenticator)
		a.SingleKey.Decode(r)
	case AccountAuthMultiKey:
		a.MultiKey = new(MultiKeyAuthenticator)
		a.MultiKey.Decode(r)
	case AccountAuthNone:
	case AccountAuthAbstraction:
		a.Abstraction = new(AbstractionAuthenticator)
		a.Abstraction.Decode(r)
	default:
		r.Unknown("AccountAuthenticator", v)
	}
}

// Encode writes an AccountAuthenticator.
func (a *AccountAuthenticator) Encode(w *bcs.Writer) {
	w.Variant(uint32(a.Kind))
	switch a.Kind {
	case AccountAuthEd25519, AccountAuthMultiEd25519:
		w.Bytes(a.PublicKey)
		w.Bytes(a.Signature)
	case AccountAuthSingleKey:
		a.SingleKey.Encode(w)
	case AccountAuthMultiKey:
		a.MultiKey.Encode(w)
	case AccountAuthAbstraction:
		a.Abstraction.Encode(w)
	}
}

// SingleKeyAuthenticator is one key of any scheme and its signature.
//
// Rust: types/src/transaction/authenticator.rs, SingleKeyAuthenticator.
type SingleKeyAuthenticator struct {
	PublicKey AnyPublicKey
	Signature AnySignature
}

// Decode reads a SingleKeyAuthenticator.
func (s *SingleKeyAuthenticator) Decode(r *bcs.Reader) {
	s.PublicKey.Decode(r)
	s.Signature.Decode(r)
}

// Encode writes a SingleKeyAuthenticator.
func (s *SingleKeyAuthenticator) Encode(w *bcs.Writer) {
	s.PublicKey.Encode(w)
	s.Signature.Encode(w)
}

// MultiKey is a k-of-n set of keys of any scheme.
//
// Rust: types/src/transaction/authenticator.rs, MultiKey.
type MultiKey struct {
	PublicKeys         []AnyPublicKey
	SignaturesRequired uint8
}

// MultiKeyAuthenticator is a MultiKey, the signatures given, and a bitmap
// (BitVec, a Vec<u8>) of which keys signed.
//
// Rust: types/src/transaction/authenticator.rs, MultiKeyAuthenticator.
type MultiKeyAuthenticator struct {
	PublicKeys       MultiKey
	Signatures       []AnySignature
	SignaturesBitmap []byte
}

// Decode reads a MultiKeyAuthenticator.
func (m *MultiKeyAuthenticator) Decode(r *bcs.Reader) {
	if n := r.Len(1); n > 0 {
		m.PublicKeys.PublicKeys = make([]AnyPublicKey, n)
		for i := range m.PublicKeys.PublicKeys {
			m.PublicKeys.PublicKeys[i].Decode(r)
		}
	}
	m.PublicKeys.SignaturesRequired = r.U8()
	if n := r.Len(1); n > 0 {
		m.Signatures = make([]AnySignature, n)
		for i := range m.Signatures {
			m.Signatures[i].Decode(r)
		}
	}
	m.SignaturesBitmap = readBytes(r)
}

// Encode writes a MultiKeyAuthenticator.
func (m *MultiKeyAuthenticator) Encode(w *bcs.Writer) {
	w.Len(len(m.PublicKeys.PublicKeys))
	for i := range m.PublicKeys.PublicKeys {
		m.PublicKeys.PublicKeys[i].Encode(w)
	}
	w.U8(m.PublicKeys.SignaturesRequired)
	w.Len(len(m.Signatures))
	for i := range m.Signatures {
		m.Signatures[i].Encode(w)
	}
	w.Bytes(m.SignaturesBitmap)
}

// AnyPublicKeyKind is the variant index of an AnyPublicKey.
type AnyPublicKeyKind uint32

// AnyPublicKey variants (aptos.yaml).
const (
	AnyPublicKeyEd25519 AnyPublicKeyKind = iota
	AnyPublicKeySecp256k1Ecdsa
	AnyPublicKeySecp256r1Ecdsa
	AnyPublicKeyKeyless
	AnyPublicKeyFederatedKeyless
)

// AnyPublicKey is a public key of one of the schemes SingleKey accounts
// use. The ECDSA and Ed25519 kinds keep the key in Key; Keyless uses
// Keyless; FederatedKeyless uses Keyless and JWKAddress.
//
// Rust: types/src/transaction/authenticator.rs, AnyPublicKey;
// types/src/keyless/mod.rs, KeylessPublicKey and FederatedKeylessPublicKey.
type AnyPublicKey struct {
	Kind       AnyPublicKeyKind
	Key        []byte
	JWKAddress Address
	Keyless    KeylessPublicKey
}

// KeylessPublicKey is an OIDC issuer and an identity commitment.
//
// Rust: types/src/keyless/mod.rs, KeylessPublicKey.
type KeylessPublicKey struct {
	IssVal []byte // String
	IDC    []byte // IdCommitment, a Vec<u8>
}

func (k *KeylessPublicKey) decode(r *bcs.Reader) {
	k.IssVal = readStr(r)
	k.IDC = readBytes(r)
}

func (k *KeylessPublicKey) encode(w *bcs.Writer) {
	w.Bytes(k.IssVal)
	w.Bytes(k.IDC)
}

// Decode reads an AnyPublicKey.
func (k *AnyPublicKey) Decode(r *bcs.Reader) {
	v := r.Variant()
	k.Kind = AnyPublicKeyKind(v)
	switch k.Kind {
	case AnyPublicKeyEd25519, AnyPublicKeySecp256k1Ecdsa, AnyPublicKeySecp256r1Ecdsa:
		k.Key = readBytes(r)
	case AnyPublicKeyKeyless:
		k.Keyless.decode(r)
	case AnyPublicKeyFederatedKeyless:
		k.JWKAddress = readAddress(r)
		k.Keyless.decode(r)
	default:
		r.Unknown("AnyPublicKey", v)
	}
}

// Encode writes an AnyPublicKey.
func (k *AnyPublicKey) Encode(w *bcs.Writer) {
	w.Variant(uint32(k.Kind))
	switch k.Kind {
	case AnyPublicKeyEd25519, AnyPublicKeySecp256k1Ecdsa, AnyPublicKeySecp256r1Ecdsa:
		w.Bytes(k.Key)
	case AnyPublicKeyKeyless:
		k.Keyless.encode(w)
	case AnyPublicKeyFederatedKeyless:
		writeAddress(w, k.JWKAddress)
		k.Keyless.encode(w)
	}
}

// AnySignatureKind is the variant index of an AnySignature.
type AnySignatureKind uint32

// AnySignature variants (aptos.yaml).
const (
	AnySignatureEd25519 AnySignatureKind = iota
	AnySignatureSecp256k1Ecdsa
	AnySignatureWebAuthn
	AnySignatureKeyless
)

// AnySignature is a signature of one of the SingleKey schemes. Ed25519 and
// Secp256k1Ecdsa keep it in Signature; WebAuthn and Keyless their own field.
//
// Rust: types/src/transaction/authenticator.rs, AnySignature.
type AnySignature struct {
	Kind      AnySignatureKind
	Signature []byte
	WebAuthn  *WebAuthnSignature
	Keyless   *KeylessSignature
}

// Decode reads an AnySignature.
func (s *AnySignature) Decode(r *bcs.Reader) {
	v := r.Variant()
	s.Kind = AnySignatureKind(v)
	switch s.Kind {
	case AnySignatureEd25519, AnySignatureSecp256k1Ecdsa:
		s.Signature = readBytes(r)
	case AnySignatureWebAuthn:
		s.WebAuthn = new(WebAuthnSignature)
		s.WebAuthn.Decode(r)
	case AnySignatureKeyless:
		s.Keyless = new(KeylessSignature)
		s.Keyless.Decode(r)
	default:
		r.Unknown("AnySignature", v)
	}
}

// Encode writes an AnySignature.
func (s *AnySignature) Encode(w *bcs.Writer) {
	w.Variant(uint32(s.Kind))
	switch s.Kind {
	case AnySignatureEd25519, AnySignatureSecp256k1Ecdsa:
		w.Bytes(s.Signature)
	case AnySignatureWebAuthn:
		s.WebAuthn.Encode(w)
	case AnySignatureKeyless:
		s.Keyless.Encode(w)
	}
}

// WebAuthnSignature is a PartialAuthenticatorAssertionResponse: a passkey's
// Secp256r1 signature (AssertionSignature's only variant, 0) over the
// authenticator data and client data.
//
// Rust: types/src/transaction/webauthn.rs, PartialAuthenticatorAssertionResponse.
type WebAuthnSignature struct {
	Signature         []byte // AssertionSignature::Secp256r1Ecdsa
	AuthenticatorData []byte
	ClientDataJSON    []byte
}

// Decode reads a PartialAuthenticatorAssertionResponse.
func (s *WebAuthnSignature) Decode(r *bcs.Reader) {
	if v := r.Variant(); v != 0 {
		r.Unknown("AssertionSignature", v)
		return
	}
	s.Signature = readBytes(r)
	s.AuthenticatorData = readBytes(r)
	s.ClientDataJSON = readBytes(r)
}

// Encode writes a PartialAuthenticatorAssertionResponse.
func (s *WebAuthnSignature) Encode(w *bcs.Writer) {
	w.Variant(0)
	w.Bytes(s.Signature)
	w.Bytes(s.AuthenticatorData)
	w.Bytes(s.ClientDataJSON)
}

// EphemeralKeyKind is the variant index of an EphemeralPublicKey and of an
// EphemeralSignature: 0 is Ed25519 in both; 1 is Secp256r1Ecdsa for the key
// and WebAuthn for the signature.
type EphemeralKeyKind uint32

// EphemeralSignature is a keyless account's short-lived signature.
//
// Rust: types/src/keyless/mod.rs, EphemeralSignature.
type EphemeralSignature struct {
	Kind      EphemeralKeyKind
	Signature []byte             // Ed25519
	WebAuthn  *WebAuthnSignature // WebAuthn
}

func (s *EphemeralSignature) decode(r *bcs.Reader) {
	v := r.Variant()
	s.Kind = EphemeralKeyKind(v)
	switch v {
	case 0:
		s.Signature = readBytes(r)
	case 1:
		s.WebAuthn = new(WebAuthnSignature)
		s.WebAuthn.Decode(r)
	default:
		r.Unknown("EphemeralSignature", v)
	}
}

func (s *EphemeralSignature) encode(w *bcs.Writer) {
	w.Variant(uint32(s.Kind))
	if s.Kind == 0 {
		w.Bytes(s.Signature)
	} else {
		s.WebAuthn.Encode(w)
	}
}

// KeylessSignature is an OIDC-based signature: a certificate (a Groth16
// proof or the OpenID signature itself) plus an ephemeral key's signature.
// Cert is ZeroKnowledge or OpenID, by CertKind (0 or 1).
//
// Rust: types/src/keyless/mod.rs, KeylessSignature and EphemeralCertificate;
// types/src/keyless/zkp_sig.rs, ZeroKnowledgeSig; openid_sig.rs, OpenIdSig;
// groth16_sig.rs, Groth16Proof.
type KeylessSignature struct {
	CertKind           uint32
	ZeroKnowledge      *ZeroKnowledgeSig
	OpenID             *OpenIDSig
	JWTHeaderJSON      []byte // String
	ExpDateSecs        uint64
	EphemeralKeyKind   EphemeralKeyKind
	EphemeralPublicKey []byte
	EphemeralSignature EphemeralSignature
}

// ZeroKnowledgeSig is a Groth16 proof (ZKP's only variant, 0) of a JWT.
//
// Rust: types/src/keyless/zkp_sig.rs, ZeroKnowledgeSig.
type ZeroKnowledgeSig struct {
	ProofA, ProofC          [32]byte // G1Bytes
	ProofB                  [64]byte // G2Bytes
	ExpHorizonSecs          uint64
	ExtraField              []byte // Option<String>; nil is None
	OverrideAudVal          []byte // Option<String>
	TrainingWheelsSignature *EphemeralSignature
}

// OpenIDSig reveals the JWT itself instead of proving it.
//
// Rust: types/src/keyless/openid_sig.rs, OpenIdSig.
type OpenIDSig struct {
	JWTSig         []byte
	JWTPayloadJSON []byte // String
	UIDKey         []byte // String
	EPKBlinder     []byte
	Pepper         [31]byte
	IDCAudVal      []byte // Option<String>
}

// Decode reads a KeylessSignature.
func (s *KeylessSignature) Decode(r *bcs.Reader) {
	s.CertKind = r.Variant()
	switch s.CertKind {
	case 0:
		z := new(ZeroKnowledgeSig)
		if v := r.Variant(); v != 0 {
			r.Unknown("ZKP", v)
			return
		}
		copy(z.ProofA[:], r.Fixed(32))
		copy(z.ProofB[:], r.Fixed(64))
		copy(z.ProofC[:], r.Fixed(32))
		z.ExpHorizonSecs = r.U64()
		z.ExtraField = readOptionStr(r)
		z.OverrideAudVal = readOptionStr(r)
		if r.Option() {
			z.TrainingWheelsSignature = new(EphemeralSignature)
			z.TrainingWheelsSignature.decode(r)
		}
		s.ZeroKnowledge = z
	case 1:
		o := new(OpenIDSig)
		o.JWTSig = readBytes(r)
		o.JWTPayloadJSON = readStr(r)
		o.UIDKey = readStr(r)
		o.EPKBlinder = readBytes(r)
		copy(o.Pepper[:], r.Fixed(31))
		o.IDCAudVal = readOptionStr(r)
		s.OpenID = o
	default:
		r.Unknown("EphemeralCertificate", s.CertKind)
		return
	}
	s.JWTHeaderJSON = readStr(r)
	s.ExpDateSecs = r.U64()
	v := r.Variant()
	s.EphemeralKeyKind = EphemeralKeyKind(v)
	if v > 1 {
		r.Unknown("EphemeralPublicKey", v)
		return
	}
	s.EphemeralPublicKey = readBytes(r)
	s.EphemeralSignature.decode(r)
}

// Encode writes a KeylessSignature.
func (s *KeylessSignature) Encode(w *bcs.Writer) {
	w.Variant(s.CertKind)
	if s.CertKind == 0 {
		z := s.ZeroKnowledge
		w.Variant(0)
		w.Fixed(z.ProofA[:])
		w.Fixed(z.ProofB[:])
		w.Fixed(z.ProofC[:])
		w.U64(z.ExpHorizonSecs)
		writeOptionStr(w, z.ExtraField)
		writeOptionStr(w, z.OverrideAudVal)
		w.Option(z.TrainingWheelsSignature != nil)
		if z.TrainingWheelsSignature != nil {
			z.TrainingWheelsSignature.encode(w)
		}
	} else {
		o := s.OpenID
		w.Bytes(o.JWTSig)
		w.Bytes(o.JWTPayloadJSON)
		w.Bytes(o.UIDKey)
		w.Bytes(o.EPKBlinder)
		w.Fixed(o.Pepper[:])
		writeOptionStr(w, o.IDCAudVal)
	}
	w.Bytes(s.JWTHeaderJSON)
	w.U64(s.ExpDateSecs)
	w.Variant(uint32(s.EphemeralKeyKind))
	w.Bytes(s.EphemeralPublicKey)
	s.EphemeralSignature.encode(w)
}

// AbstractionAuthenticator is account abstraction: a Move function that
// authenticates, and the data it is given.
//
// Rust: types/src/transaction/authenticator.rs, AccountAuthenticator::Abstraction
// and AbstractionAuthData; types/src/function_info.rs, FunctionInfo.
type AbstractionAuthenticator struct {
	ModuleAddress        Address
	ModuleName           []byte // String
	FunctionName         []byte // String
	AuthDataKind         uint32 // 0 V1, 1 DerivableV1
	SigningMessageDigest []byte
	Authenticator        []byte // V1
	AbstractSignature    []byte // DerivableV1
	AbstractPublicKey    []byte // DerivableV1
}

// Decode reads the Abstraction variant's fields.
func (a *AbstractionAuthenticator) Decode(r *bcs.Reader) {
	a.ModuleAddress = readAddress(r)
	a.ModuleName = readStr(r)
	a.FunctionName = readStr(r)
	a.AuthDataKind = r.Variant()
	switch a.AuthDataKind {
	case 0:
		a.SigningMessageDigest = readBytes(r)
		a.Authenticator = readBytes(r)
	case 1:
		a.SigningMessageDigest = readBytes(r)
		a.AbstractSignature = readBytes(r)
		a.AbstractPublicKey = readBytes(r)
	default:
		r.Unknown("AbstractionAuthData", a.AuthDataKind)
	}
}

// Encode writes the Abstraction variant's fields.
func (a *AbstractionAuthenticator) Encode(w *bcs.Writer) {
	writeAddress(w, a.ModuleAddress)
	w.Bytes(a.ModuleName)
	w.Bytes(a.FunctionName)
	w.Variant(a.AuthDataKind)
	w.Bytes(a.SigningMessageDigest)
	if a.AuthDataKind == 0 {
		w.Bytes(a.Authenticator)
	} else {
		w.Bytes(a.AbstractSignature)
		w.Bytes(a.AbstractPublicKey)
	}
}
