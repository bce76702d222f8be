package sim

import (
	"bytes"
	"encoding/binary"
	"sort"

	"github.com/backseal/backseal/aptos/accumulator"
	"github.com/backseal/backseal/aptos/bcs"
	"github.com/backseal/backseal/aptos/hash"
	"github.com/backseal/backseal/aptos/smt"
	"github.com/backseal/backseal/aptos/types"
	"github.com/backseal/backseal/upstream"
)

// mutation is what a content fault does to one record.
type mutation uint8

const (
	mutNone    mutation = iota
	mutFlip             // one payload byte flipped, the record still decodes
	mutSwap             // the record of the next identity instead
	mutStale            // a state item's older value, same key
	mutVariant          // the record's outer enum variant set to variantUnknown
)

var framework = types.Address{31: 1} // 0x1

func ident(s string) types.Identifier { return types.Identifier(s) }

// resourceKey is the StateKey of resource 0x1::module::name under addr.
func resourceKey(addr types.Address, module, name string) types.StateKey {
	w := bcs.NewWriter(nil)
	w.Variant(1) // Path::Resource(StructTag)
	tag := types.StructTag{Address: framework, Module: ident(module), Name: ident(name)}
	tag.Encode(w)
	return types.StateKey{Kind: types.StateKeyAccessPath, Address: addr, Path: w.Encoded()}
}

// codeKey is the StateKey of module 0x1::name's code.
func codeKey(name string) types.StateKey {
	w := bcs.NewWriter(nil)
	w.Variant(0) // Path::Code(ModuleId)
	m := types.ModuleID{Address: framework, Name: ident(name)}
	m.Encode(w)
	return types.StateKey{Kind: types.StateKeyAccessPath, Address: framework, Path: w.Encoded()}
}

func structTag(module, name string) types.TypeTag {
	return types.TypeTag{Kind: types.TypeTagStruct, Struct: &types.StructTag{Address: framework, Module: ident(module), Name: ident(name)}}
}

type writeEntry struct {
	key types.StateKey
	op  types.WriteOp
	enc []byte // the key's BCS, the map's order
}

// appendTransaction appends the payload of the record at version v and
// returns where its TransactionInfo lies in out. The record's last byte is
// always inside the data of its write set's last (Modification) op, which is
// where the flip fault strikes.
func (g *genuine) appendTransaction(dst []byte, v uint64) (out []byte, infoAt, infoEnd int) {
	c := g.c
	cfg := c.cfg
	idx, first, last := g.block(v)
	h := c.hash(kindTransaction, v, 0)
	epoch := g.epoch(v)
	ts := blockTimestamp(idx)

	var txn types.Transaction
	var events []types.ContractEvent
	var writes []writeEntry
	var status types.ExecutionStatus
	var gas uint64
	put := func(k types.StateKey, kind types.WriteOpKind, n int, salt uint64) {
		op := types.WriteOp{Kind: kind}
		if op.HasData() {
			op.Data = c.appendBlob(nil, h^salt, n)
		}
		if op.HasMetadata() {
			op.Metadata = types.StateValueMetadata{Version: 1, SlotDeposit: 40_000, BytesDeposit: uint64(n) * 40, CreationTimeUsecs: ts}
		}
		writes = append(writes, writeEntry{key: k, op: op})
	}
	v1Event := func(addr types.Address, creation, seq uint64, tag types.TypeTag, n int, salt uint64) {
		events = append(events, types.ContractEvent{Key: types.EventKey{CreationNumber: creation, AccountAddress: addr},
			SequenceNumber: seq, TypeTag: tag, EventData: c.appendBlob(nil, h^salt, n)})
	}
	v2Event := func(tag types.TypeTag, n int, salt uint64) {
		events = append(events, types.ContractEvent{Version: 1, TypeTag: tag, EventData: c.appendBlob(nil, h^salt, n)})
	}
	switch {
	case v == 0: // genesis: a ChangeSet applied directly
		for i, m := range []string{"account", "coin", "aptos_account", "block", "timestamp", "stake"} {
			put(codeKey(m), types.WriteOpCreation, 200+int(h>>uint(i)%300), uint64(i))
		}
		put(resourceKey(framework, "chain_id", "ChainId"), types.WriteOpCreation, 1, 10)
		v1Event(framework, 4, 0, structTag("reconfiguration", "NewEpochEvent"), 8, 11)
	case first == last: // a block of one version: a bare state checkpoint
		txn = types.Transaction{Kind: types.TxnStateCheckpoint, StateCheckpoint: g.blockID(idx)}
		put(resourceKey(framework, "block", "CommitHistory"), types.WriteOpModification, 40, 1)
	case v == first:
		meta := types.BlockMetadata{
			ID: g.blockID(idx), Epoch: epoch, Round: uint64(idx), Proposer: g.proposer(epoch, idx),
			PreviousBlockVotesBitvec: []byte{0xf0}, TimestampUsecs: ts,
		}
		switch idx % 3 {
		case 0:
			txn = types.Transaction{Kind: types.TxnBlockMetadata, BlockMetadata: &meta}
		case 1:
			txn = types.Transaction{Kind: types.TxnBlockMetadataExt, BlockMetadataExt: &types.BlockMetadataExt{Version: 1, Metadata: meta,
				Randomness: &types.Randomness{Epoch: epoch, Round: uint64(idx), Randomness: c.appendBlob(nil, h^2, 32)}}}
		default:
			txn = types.Transaction{Kind: types.TxnBlockMetadataExt, BlockMetadataExt: &types.BlockMetadataExt{Version: 1, Metadata: meta}}
		}
		put(resourceKey(framework, "block", "BlockResource"), types.WriteOpModification, 40, 3)
		put(resourceKey(framework, "timestamp", "CurrentTimeMicroseconds"), types.WriteOpModification, 8, 4)
		v1Event(framework, 3, uint64(idx), structTag("block", "NewBlockEvent"), 120, 5)
	case v == last:
		ep := types.BlockEpiloguePayload{Version: uint32(idx % 2), BlockID: g.blockID(idx),
			BlockEffectiveBlockGasUnits: h % 20_000, BlockApproxOutputSize: h % 100_000}
		if ep.Version == 1 {
			n := len(g.signers[max(epoch, 1)%uint64(len(g.signers))].Verifier.Validators)
			for i := range n {
				ep.FeeAmounts = append(ep.FeeAmounts, types.FeeAmount{ValidatorIndex: uint64(i), Octas: mix(h+uint64(i)) % 1_000_000})
			}
		}
		txn = types.Transaction{Kind: types.TxnBlockEpilogue, BlockEpilogue: &ep}
		put(resourceKey(framework, "block", "BlockEndInfo"), types.WriteOpModification, 24, 6)
	default:
		txn, status, gas = g.userTransaction(v, h, ts)
		sender := txn.User.RawTxn.Sender
		recipient := g.accounts[(h>>16)%accountCount].addr
		if recipient == sender {
			recipient = g.accounts[((h>>16)+1)%accountCount].addr
		}
		put(resourceKey(sender, "account", "Account"), types.WriteOpModification, 80, 7)
		put(resourceKey(sender, "coin", "CoinStore"), types.WriteOpModification, 100, 8)
		if status.Kind == types.StatusSuccess {
			kind := types.WriteOpModification
			if h%5 == 0 {
				kind = types.WriteOpCreationWithMetadata
			}
			put(resourceKey(recipient, "coin", "CoinStore"), kind, 100, 9)
			v1Event(sender, 2, v, structTag("coin", "WithdrawEvent"), 8, 12)
			v1Event(recipient, 1, v, structTag("coin", "DepositEvent"), 8, 13)
		}
		v2Event(structTag("transaction_fee", "FeeStatement"), 40, 14)
	}
	// The parts are encoded into one scratch buffer: a few allocations a
	// record instead of one growing buffer per part. A slice enc returns
	// stays valid when the buffer moves (it keeps the old array).
	scratch := make([]byte, 0, 2*recordSize(kindTransaction, h)+1024)
	enc := func(v interface{ Encode(*bcs.Writer) }) []byte {
		start := len(scratch)
		w := bcs.NewWriter(scratch)
		v.Encode(w)
		scratch = w.Encoded()
		return scratch[start:len(scratch):len(scratch)]
	}
	for i := range writes {
		writes[i].enc = enc(&writes[i].key)
	}
	sort.Slice(writes, func(i, j int) bool { return bytes.Compare(writes[i].enc, writes[j].enc) < 0 })
	lastOp := &writes[len(writes)-1].op
	lastOp.Kind, lastOp.Metadata = types.WriteOpModification, types.StateValueMetadata{}
	if len(lastOp.Data) == 0 {
		lastOp.Data = c.appendBlob(nil, h^15, 1)
	}

	eventBytes := make([][]byte, len(events))
	evLen := 0
	for i := range events {
		eventBytes[i] = enc(&events[i])
		evLen += len(eventBytes[i])
	}
	ws := types.WriteSet{Entries: make([]types.WriteSetEntry, len(writes))}
	for i, e := range writes {
		ws.Entries[i] = types.WriteSetEntry{Key: e.key, Op: e.op}
	}
	// Pad the last write to the drawn size (genesis keeps its own size: its
	// write set is in the transaction too).
	var txnBytes []byte
	if v != 0 {
		txnBytes = enc(&txn) // the pad is in the write set only
		mark := len(scratch)
		base := len(txnBytes) + evLen + len(enc(&ws)) + 160
		scratch = scratch[:mark]
		if target := recordSize(kindTransaction, h); target > base {
			op := &ws.Entries[len(ws.Entries)-1].Op
			op.Data = c.appendBlob(nil, h^16, len(op.Data)+target-base)
		}
	} else {
		txn = types.Transaction{Kind: types.TxnGenesis, Genesis: &types.WriteSetPayload{Kind: types.WriteSetPayloadDirect, WriteSet: ws, Events: events}}
	}
	if v == 0 {
		txnBytes = enc(&txn)
	}
	wsBytes := enc(&ws)
	aux := types.PersistedAuxiliaryInfo{}
	if v >= cfg.CommittedVersion/5 && v != 0 { // older history has none, as before 2025
		aux = types.PersistedAuxiliaryInfo{Kind: types.AuxInfoV1, TransactionIndex: uint32(v - first)}
	}
	auxBytes := enc(&aux)
	infoBytes, ok := g.cachedInfo(v)
	if !ok {
		leaves := make([]hash.Value, len(eventBytes))
		for i, e := range eventBytes {
			leaves[i] = types.HashContractEvent(e)
		}
		info := types.TransactionInfo{
			GasUsed:         gas,
			Status:          status,
			TransactionHash: types.HashTransaction(txnBytes),
			EventRootHash:   accumulator.EventRoot(leaves),
			StateChangeHash: types.HashWriteSet(wsBytes),
		}
		if v == last {
			root := g.pseudoHash(kindBlock, v, 2) // a state root the simulator does not serve
			if s, ok := g.snapshots[v]; ok {
				root = s.root
			}
			info.StateCheckpointHash = &root
		}
		if !cfg.RecordV0 && aux.Kind != types.AuxInfoNone {
			ah := types.HashPersistedAuxiliaryInfo(auxBytes)
			info.AuxiliaryInfoHash = &ah
		}
		infoBytes = enc(&info)
	}

	out = append(dst, txnBytes...)
	if !cfg.RecordV0 {
		out = append(out, auxBytes...)
	}
	infoAt = len(out) - len(dst)
	out = append(out, infoBytes...)
	infoEnd = len(out) - len(dst)
	out = binary.AppendUvarint(out, uint64(len(events)))
	for _, e := range eventBytes {
		out = append(out, e...)
	}
	out = append(out, wsBytes...)
	return out, infoAt, infoEnd
}

// transaction appends the payload at v and returns its TransactionInfo bytes.
func (g *genuine) transaction(dst []byte, v uint64) (out, info []byte) {
	out, at, end := g.appendTransaction(dst, v)
	return out, out[len(dst)+at : len(dst)+end]
}

func (g *genuine) proposer(epoch uint64, idx int) types.Address {
	vs := g.signers[max(epoch, 1)%uint64(len(g.signers))].Verifier.Validators
	return types.Address(vs[idx%len(vs)].Address)
}

// userTransaction is a signed transfer (mostly), a script or a multisig call.
func (g *genuine) userTransaction(v, h uint64, ts uint64) (types.Transaction, types.ExecutionStatus, uint64) {
	c := g.c
	from := &g.accounts[h%accountCount]
	to := g.accounts[(h>>16)%accountCount].addr
	amount := binary.LittleEndian.AppendUint64(nil, 1+mix(h)%1_000_000_000)
	transfer := &types.EntryFunction{
		Module:   types.ModuleID{Address: framework, Name: ident("aptos_account")},
		Function: ident("transfer"),
		Args:     [][]byte{to[:], amount},
	}
	var payload types.TransactionPayload
	switch h >> 24 % 20 {
	case 0:
		code := append([]byte{0xa1, 0x1c, 0xeb, 0x0b, 7, 0, 0, 0}, c.appendBlob(nil, h^20, 60+int(h%200))...)
		payload = types.TransactionPayload{Kind: types.PayloadScript, Script: &types.Script{Code: code,
			Args: []types.TransactionArgument{{Kind: types.ArgAddress, Address: to}, {Kind: types.ArgU64, Int: binary.LittleEndian.Uint64(amount)}}}}
	case 1:
		payload = types.TransactionPayload{Kind: types.PayloadMultisig, Multisig: &types.Multisig{MultisigAddress: g.accounts[(h>>8)%accountCount].addr, EntryFunction: transfer}}
	default:
		payload = types.TransactionPayload{Kind: types.PayloadEntryFunction, EntryFunction: transfer}
	}
	raw := types.RawTransaction{Sender: from.addr, SequenceNumber: v, Payload: payload,
		MaxGasAmount: 200_000, GasUnitPrice: 100, ExpirationTimestampSecs: ts/1_000_000 + 600, ChainID: chainID}
	// Well-formed pseudo-random signatures: nothing on the backup path checks them.
	sig := func(salt uint64) *types.AccountAuthenticator {
		return &types.AccountAuthenticator{Kind: types.AccountAuthEd25519, PublicKey: from.pub, Signature: c.appendBlob(nil, h^salt, 64)}
	}
	var auth types.TransactionAuthenticator
	switch h >> 32 % 10 {
	case 0:
		auth = types.TransactionAuthenticator{Kind: types.TxnAuthSingleSender, Sender: sig(21)}
	case 1:
		payer := &g.accounts[(h>>40)%accountCount]
		fp := &types.AccountAuthenticator{Kind: types.AccountAuthEd25519, PublicKey: payer.pub, Signature: c.appendBlob(nil, h^22, 64)}
		auth = types.TransactionAuthenticator{Kind: types.TxnAuthFeePayer, Sender: sig(23), FeePayerAddress: payer.addr, FeePayerSigner: fp}
	default:
		auth = types.TransactionAuthenticator{Kind: types.TxnAuthEd25519, PublicKey: from.pub, Signature: c.appendBlob(nil, h^24, 64)}
	}
	status := types.ExecutionStatus{Kind: types.StatusSuccess}
	if h>>48%25 == 0 {
		status = types.ExecutionStatus{Kind: types.StatusMoveAbort,
			Location: types.AbortLocation{Module: &types.ModuleID{Address: framework, Name: ident("coin")}}, Code: 65542}
	}
	txn := types.Transaction{Kind: types.TxnUser, User: &types.SignedTransaction{RawTxn: raw, Authenticator: auth}}
	return txn, status, 5 + h%2000
}

// State items.

var resourceNames = [...][2]string{{"account", "Account"}, {"coin", "CoinStore"}, {"object", "ObjectCore"},
	{"fungible_asset", "FungibleStore"}, {"stake", "StakePool"}, {"primary_fungible_store", "DeriveRefPod"}}

// stateKey is the key of state item identity j (the same at every version).
func (g *genuine) stateKey(j uint64) types.StateKey {
	c := g.c
	h := c.hash(kindStateKey, j, 0)
	var seed [16]byte
	binary.LittleEndian.PutUint64(seed[:], h)
	binary.LittleEndian.PutUint64(seed[8:], j)
	addr := types.Address(hash.SHA3(seed[:]))
	switch h % 10 {
	case 7, 8:
		return types.StateKey{Kind: types.StateKeyTableItem, Address: addr, Key: c.appendBlob(nil, h^1, 8+int(h>>8%33))}
	case 9:
		return codeKey("m" + decimal(j))
	}
	r := resourceNames[h>>8%uint64(len(resourceNames))]
	return resourceKey(addr, r[0], r[1])
}

func decimal(j uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + j%10)
		j /= 10
		if j == 0 {
			return string(b[i:])
		}
	}
}

// generation is the value generation of item j at version v: it changes
// every period(j) versions; generation-1 is the stale fault's older value.
func (g *genuine) generation(j, v uint64) uint64 {
	period := 5_000 + g.c.hash(kindStateVal, j, 0)%40_000
	return 1 + v/period
}

// appendStateItem appends the BCS (StateKey, StateValue) of item j at
// generation gen; flipAt is a byte inside the value's data.
func (g *genuine) appendStateItem(dst []byte, key *types.StateKey, j, gen uint64) (out []byte, flipAt int) {
	c := g.c
	w := bcs.NewWriter(dst)
	key.Encode(w)
	keyLen := len(w.Encoded()) - len(dst)
	h := c.hash(kindStateVal, j, gen)
	n := max(1, recordSize(kindStateItem, h)-keyLen-4)
	val := types.StateValue{Data: c.appendBlob(nil, h, n)}
	if h%3 == 0 {
		val.WithMetadata = true
		val.Metadata = types.StateValueMetadata{Version: 1, SlotDeposit: 40_000, BytesDeposit: uint64(n) * 40, CreationTimeUsecs: timestampBase + gen}
	}
	val.Encode(w)
	out = w.Encoded()
	dataStart := keyLen + 1 + len(binary.AppendUvarint(nil, uint64(n)))
	return out, dataStart + n/2
}

func (g *genuine) buildSnapshot(v uint64) *snapshot {
	n := g.c.cfg.itemCount(v)
	s := &snapshot{version: v, order: make([]uint32, n), leaves: make([]smt.SparseMerkleLeafNode, n)}
	var scratch []byte
	for j := range n {
		key := g.stateKey(j)
		var out []byte
		out, _ = g.appendStateItem(scratch[:0], &key, j, g.generation(j, v))
		keyLen := len(types.Marshal(&key))
		s.order[j] = uint32(j)
		s.leaves[j] = smt.SparseMerkleLeafNode{Key: key.Hash(), ValueHash: types.HashStateValue(out[keyLen:])}
		scratch = out
	}
	sort.Sort(byKey{s})
	b := smt.NewBuilder()
	for _, l := range s.leaves {
		if err := b.Add(l.Key, l.ValueHash); err != nil {
			panic(err) // a key hash collision: impossible in practice
		}
	}
	s.root = b.Root()
	return s
}

type byKey struct{ s *snapshot }

func (b byKey) Len() int { return len(b.s.order) }
func (b byKey) Less(i, j int) bool {
	return bytes.Compare(b.s.leaves[i].Key[:], b.s.leaves[j].Key[:]) < 0
}
func (b byKey) Swap(i, j int) {
	b.s.order[i], b.s.order[j] = b.s.order[j], b.s.order[i]
	b.s.leaves[i], b.s.leaves[j] = b.s.leaves[j], b.s.leaves[i]
}

// smtTree returns the snapshot's whole tree, built on first use (range proofs).
func (s *snapshot) smtTree() *smt.Tree {
	s.treeOnce.Do(func() {
		t, err := smt.NewTree(s.leaves)
		if err != nil {
			panic(err)
		}
		s.tree = t
	})
	return s.tree
}

// appendStateRecord appends record i of the snapshot at v.
func (g *genuine) appendStateRecord(dst []byte, v, i uint64, m mutation) (out []byte, flipAt int) {
	g.build()
	s := g.snapshots[v]
	n := uint64(len(s.order))
	if m == mutSwap {
		i++
	}
	j := uint64(0) // an empty snapshot's excess or swapped record: a first item
	if n > 0 {
		j = uint64(s.order[i%n])
	}
	gen := g.generation(j, v)
	if m == mutStale {
		gen--
	}
	key := g.stateKey(j)
	return g.appendStateItem(dst, &key, j, gen)
}

// appendPayload appends the genuine payload of record (k, a, b), mutated.
func (g *genuine) appendPayload(dst []byte, k recordKind, a, b uint64, m mutation) []byte {
	start := len(dst)
	var flipAt int
	switch k {
	case kindTransaction:
		if m == mutSwap {
			b++
		}
		g.build()
		dst, _, _ = g.appendTransaction(dst, b)
		flipAt = len(dst) - start - 1
	case kindEpochEnding:
		if m == mutSwap {
			b++
		}
		dst = append(dst, g.epochEnding(b)...)
		flipAt = 18 + 5 // inside BlockInfo.id: variant, epoch, round, the id's length
	case kindStateItem:
		dst, flipAt = g.appendStateRecord(dst, a, b, m)
		flipAt -= start
	}
	switch m {
	case mutFlip:
		dst[start+flipAt] ^= 0xff
	case mutVariant:
		dst[start] = variantUnknown
	}
	return dst
}

// Small endpoints.

// small answers the three proof endpoints; the caller has checked what the
// synthetic mode checks (snapshot, pruning, range).
func (g *genuine) small(req upstream.Request) (int, []byte) {
	g.build()
	cfg := g.c.cfg
	w := bcs.NewWriter(nil)
	switch req.Endpoint {
	case upstream.StateRangeProof:
		s, ok := g.snapshots[req.Args[0]]
		if !ok {
			return 500, nil
		}
		key := hash.Value(req.Key)
		i := sort.Search(len(s.leaves), func(i int) bool { return bytes.Compare(s.leaves[i].Key[:], key[:]) >= 0 })
		if i == len(s.leaves) || s.leaves[i].Key != key {
			return 500, nil // JMT get_range_proof: "rightmost_key_to_prove must exist"
		}
		p := s.smtTree().RangeProof(i)
		p.Encode(w)
	case upstream.StateRootProof:
		v := req.Args[0]
		li, liVersion := g.ledgerInfoFor(v)
		proof, err := g.tree.ProofAt(liVersion+1, v)
		if err != nil {
			return 500, nil
		}
		info, _ := g.cachedInfo(v)
		p := accumulator.TransactionInfoWithProof{LedgerInfoToTransactionInfoProof: proof, TransactionInfo: info}
		p.Encode(w)
		w.Fixed(li)
	case upstream.TransactionRangeProof:
		first, last := req.Args[0], req.Args[1]
		if last < first || last > cfg.CommittedVersion {
			return 500, nil
		}
		li, liVersion := g.ledgerInfoFor(last)
		proof, err := g.tree.RangeProofAt(liVersion+1, first, last)
		if err != nil {
			return 500, nil
		}
		proof.Encode(w)
		w.Fixed(li)
	}
	return 200, w.Encoded()
}
