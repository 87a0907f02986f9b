package journal

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"
)

// Stored values start with a format byte. Format 1 is bytes migrated from a
// v1 journal, kept verbatim (the v1 JSON, whose hashes must still verify);
// format 2 is this build's compact encoding.
const (
	formatV1      = 1
	formatCompact = 2
)

// A compact event is 0x02, its sha256 (32 bytes), then V and Time, then
// each non-empty field as a tag byte and its value, in tag order. Strings
// and Data are a uvarint length and the bytes; Outputs is a uvarint count
// and sorted key/value pairs. Seq is the key's, and Prev is the hash of the
// event before it (of the run record for seq 1): storing either again
// would only add bytes for Verify to compare.
//
// What is hashed is still the event's JSON with Prev and Hash filled in,
// exactly as in v1, so an export checks offline the same way whichever
// format the journal stored.
const (
	tagType byte = iota + 1
	tagStep
	tagItem
	tagAttempt
	tagToken
	tagOutputs
	tagEvidence
	tagError
	tagUser
	tagData
)

const hashLen = 32

// encodeEvent stores e, whose hash is sum. Seq, Prev and Hash are not
// stored.
func encodeEvent(e Event, sum []byte) []byte {
	b := make([]byte, 0, 64+len(e.Evidence)+len(e.Data)+len(e.Error))
	b = append(b, formatCompact)
	b = append(b, sum...)
	b = binary.AppendUvarint(b, uint64(e.V))
	b = binary.AppendVarint(b, e.Time.Unix())
	b = binary.AppendUvarint(b, uint64(e.Time.Nanosecond()))
	str := func(tag byte, s string) {
		if s != "" {
			b = append(b, tag)
			b = binary.AppendUvarint(b, uint64(len(s)))
			b = append(b, s...)
		}
	}
	str(tagType, e.Type)
	str(tagStep, e.Step)
	str(tagItem, e.Item)
	if e.Attempt != 0 {
		b = append(b, tagAttempt)
		b = binary.AppendVarint(b, int64(e.Attempt))
	}
	str(tagToken, e.Token)
	if len(e.Outputs) > 0 {
		keys := make([]string, 0, len(e.Outputs))
		for k := range e.Outputs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = append(b, tagOutputs)
		b = binary.AppendUvarint(b, uint64(len(keys)))
		for _, k := range keys {
			b = binary.AppendUvarint(b, uint64(len(k)))
			b = append(b, k...)
			b = binary.AppendUvarint(b, uint64(len(e.Outputs[k])))
			b = append(b, e.Outputs[k]...)
		}
	}
	str(tagEvidence, e.Evidence)
	str(tagError, e.Error)
	str(tagUser, e.User)
	str(tagData, string(e.Data))
	return b
}

var errShort = errors.New("truncated")

// reader decodes a compact value; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = errShort
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// decodeEvent reads a compact event, returning it (without Seq, Prev and
// Hash) and its stored hash. It accepts any well-formed value; whether the
// value is exactly what encodeEvent writes is Verify's question.
func decodeCompactEvent(v []byte) (Event, []byte, error) {
	var e Event
	if len(v) < 1+hashLen || v[0] != formatCompact {
		return e, nil, errors.New("not a compact event")
	}
	sum := v[1 : 1+hashLen]
	r := &reader{b: v[1+hashLen:]}
	ver := r.uvarint()
	sec, nsec := r.varint(), r.uvarint()
	if ver > math.MaxInt32 || nsec >= uint64(time.Second) {
		return e, nil, errors.New("version or time out of range")
	}
	e.V, e.Time = int(ver), time.Unix(sec, int64(nsec)).UTC()
	for r.err == nil && len(r.b) > 0 {
		tag := r.b[0]
		r.b = r.b[1:]
		switch tag {
		case tagType:
			e.Type = string(r.bytes())
		case tagStep:
			e.Step = string(r.bytes())
		case tagItem:
			e.Item = string(r.bytes())
		case tagAttempt:
			a := r.varint()
			if a < math.MinInt32 || a > math.MaxInt32 {
				return e, nil, errors.New("attempt out of range")
			}
			e.Attempt = int(a)
		case tagToken:
			e.Token = string(r.bytes())
		case tagOutputs:
			n := r.uvarint()
			if n > uint64(len(r.b)) {
				return e, nil, errShort
			}
			e.Outputs = make(map[string]string, n)
			for i := uint64(0); i < n && r.err == nil; i++ {
				k := string(r.bytes())
				e.Outputs[k] = string(r.bytes())
			}
		case tagEvidence:
			e.Evidence = string(r.bytes())
		case tagError:
			e.Error = string(r.bytes())
		case tagUser:
			e.User = string(r.bytes())
		case tagData:
			if d := r.bytes(); d != nil {
				e.Data = bytes.Clone(d)
			}
		default:
			return e, nil, fmt.Errorf("unknown field tag %d", tag)
		}
	}
	if r.err != nil {
		return e, nil, r.err
	}
	return e, sum, nil
}

// A compact head is 0x02, the hash of the run's last event (of the run
// record before any), then the last seq as a uvarint.
func encodeHead(seq uint64, sum []byte) []byte {
	b := make([]byte, 0, 1+hashLen+binary.MaxVarintLen64)
	b = append(b, formatCompact)
	b = append(b, sum...)
	return binary.AppendUvarint(b, seq)
}

// decodeHead reads a head of either format. A v1 head is its JSON.
func decodeHead(v []byte) (head, error) {
	var h head
	switch {
	case len(v) == 0:
		return h, errors.New("head anchor missing")
	case v[0] == formatV1:
		return h, unmarshalHead(v[1:], &h)
	case v[0] == formatCompact && len(v) > 1+hashLen:
		r := &reader{b: v[1+hashLen:]}
		h.Seq = r.uvarint()
		if r.err != nil || len(r.b) != 0 {
			return h, errors.New("head anchor unreadable: malformed")
		}
		h.Hash = hex.EncodeToString(v[1 : 1+hashLen])
		return h, nil
	}
	return h, fmt.Errorf("head anchor unreadable: unknown format %d", v[0])
}

// A compact run record (format 2 in the runs bucket) holds record's fields
// the same way: a tag byte and the value for each non-empty field. Digest
// is 32 raw bytes when it is lowercase hex of that length, as cairn's are.
// What is hashed, and exported, is the record's JSON.
const (
	tagID byte = iota + 1
	tagPlaybook
	tagPlaybookFile
	tagDigest
	tagDigestHex
	tagSourceSHA256
	tagParams
	tagRunUser
	tagHost
	tagStarted
	tagTarget
	tagCairnVersion
)

func encodeRecordBin(r record) ([]byte, error) {
	b := make([]byte, 0, 128)
	str := func(tag byte, s string) {
		if s != "" {
			b = append(b, tag)
			b = binary.AppendUvarint(b, uint64(len(s)))
			b = append(b, s...)
		}
	}
	strMap := func(tag byte, m map[string]string, keepEmpty bool) {
		if m == nil || len(m) == 0 && !keepEmpty {
			return
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = append(b, tag)
		b = binary.AppendUvarint(b, uint64(len(keys)))
		for _, k := range keys {
			b = binary.AppendUvarint(b, uint64(len(k)))
			b = append(b, k...)
			b = binary.AppendUvarint(b, uint64(len(m[k])))
			b = append(b, m[k]...)
		}
	}
	str(tagID, r.ID)
	str(tagPlaybook, r.Playbook)
	str(tagPlaybookFile, r.PlaybookFile)
	if d, err := hex.DecodeString(r.Digest); err == nil && len(d) == hashLen && hex.EncodeToString(d) == r.Digest {
		b = append(b, tagDigestHex)
		b = append(b, d...)
	} else {
		str(tagDigest, r.Digest)
	}
	if r.SourceSHA256 != "" {
		d, err := hex.DecodeString(r.SourceSHA256)
		if err != nil || len(d) != hashLen {
			return nil, fmt.Errorf("source sha256 %q", r.SourceSHA256)
		}
		b = append(b, tagSourceSHA256)
		b = append(b, d...)
	}
	// JSON keeps "params": null apart from "params": {}.
	strMap(tagParams, r.Params, true)
	str(tagRunUser, r.User)
	str(tagHost, r.Host)
	if _, off := r.Started.Zone(); off != 0 {
		return nil, errors.New("start time is not UTC")
	}
	if !r.Started.IsZero() {
		b = append(b, tagStarted)
		b = binary.AppendVarint(b, r.Started.Unix())
		b = binary.AppendUvarint(b, uint64(r.Started.Nanosecond()))
	}
	strMap(tagTarget, r.Target, false)
	str(tagCairnVersion, r.CairnVersion)
	return b, nil
}

func decodeRecordBin(v []byte) (record, error) {
	var rec record
	r := &reader{b: v}
	strMap := func() map[string]string {
		n := r.uvarint()
		if n > uint64(len(r.b)) {
			r.err = errShort
			return nil
		}
		m := make(map[string]string, n)
		for i := uint64(0); i < n && r.err == nil; i++ {
			k := string(r.bytes())
			m[k] = string(r.bytes())
		}
		return m
	}
	raw32 := func() string {
		if len(r.b) < hashLen {
			r.err = errShort
			return ""
		}
		s := hex.EncodeToString(r.b[:hashLen])
		r.b = r.b[hashLen:]
		return s
	}
	for r.err == nil && len(r.b) > 0 {
		tag := r.b[0]
		r.b = r.b[1:]
		switch tag {
		case tagID:
			rec.ID = string(r.bytes())
		case tagPlaybook:
			rec.Playbook = string(r.bytes())
		case tagPlaybookFile:
			rec.PlaybookFile = string(r.bytes())
		case tagDigest:
			rec.Digest = string(r.bytes())
		case tagDigestHex:
			rec.Digest = raw32()
		case tagSourceSHA256:
			rec.SourceSHA256 = raw32()
		case tagParams:
			rec.Params = strMap()
		case tagRunUser:
			rec.User = string(r.bytes())
		case tagHost:
			rec.Host = string(r.bytes())
		case tagStarted:
			sec, nsec := r.varint(), r.uvarint()
			if nsec >= uint64(time.Second) {
				return rec, errors.New("start time out of range")
			}
			rec.Started = time.Unix(sec, int64(nsec)).UTC()
		case tagTarget:
			rec.Target = strMap()
		case tagCairnVersion:
			rec.CairnVersion = string(r.bytes())
		default:
			return rec, fmt.Errorf("unknown field tag %d", tag)
		}
	}
	return rec, r.err
}
