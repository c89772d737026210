package etcdv3

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// The messages below are etcd's etcdserverpb messages as the gateway
// writes and reads them (grpc-gateway's JSONPb with OrigName): proto field
// names, bytes in standard base64, 64-bit integers as JSON strings, enums
// by name, and fields at their zero value left out.

// LeaseID names a lease; 0 is none.
type LeaseID int64

// ResponseHeader is what every answer carries.
type ResponseHeader struct {
	ClusterID uint64 `json:"cluster_id,string,omitempty"`
	MemberID  uint64 `json:"member_id,string,omitempty"`
	// Revision is the key-value store's revision when the request was served.
	Revision int64  `json:"revision,string,omitempty"`
	RaftTerm uint64 `json:"raft_term,string,omitempty"`
}

// KeyValue is one key with its value and revisions.
type KeyValue struct {
	Key            []byte  `json:"key,omitempty"`
	CreateRevision int64   `json:"create_revision,string,omitempty"`
	ModRevision    int64   `json:"mod_revision,string,omitempty"`
	Version        int64   `json:"version,string,omitempty"`
	Value          []byte  `json:"value,omitempty"`
	Lease          LeaseID `json:"lease,string,omitempty"`
}

// RangeRequest reads Key, or [Key, RangeEnd) when RangeEnd is set.
type RangeRequest struct {
	Key       []byte `json:"key,omitempty"`
	RangeEnd  []byte `json:"range_end,omitempty"`
	KeysOnly  bool   `json:"keys_only,omitempty"`
	CountOnly bool   `json:"count_only,omitempty"`
}

// RangeResponse holds the keys read, and how many there are.
type RangeResponse struct {
	Header ResponseHeader `json:"header"`
	Kvs    []*KeyValue    `json:"kvs,omitempty"`
	More   bool           `json:"more,omitempty"`
	Count  int64          `json:"count,string,omitempty"`
}

// PutRequest writes Value at Key, attached to Lease if it is not 0.
type PutRequest struct {
	Key   []byte  `json:"key,omitempty"`
	Value []byte  `json:"value,omitempty"`
	Lease LeaseID `json:"lease,string,omitempty"`
}

// PutResponse answers a PutRequest.
type PutResponse struct {
	Header ResponseHeader `json:"header"`
}

// DeleteRangeRequest deletes Key, or [Key, RangeEnd) when RangeEnd is set.
type DeleteRangeRequest struct {
	Key      []byte `json:"key,omitempty"`
	RangeEnd []byte `json:"range_end,omitempty"`
}

// DeleteRangeResponse says how many keys went.
type DeleteRangeResponse struct {
	Header  ResponseHeader `json:"header"`
	Deleted int64          `json:"deleted,string,omitempty"`
}

// Compare is one condition of a transaction: Target of Key (or of every
// key in [Key, RangeEnd)) compared to the value of that target.
type Compare struct {
	Result   string `json:"result"` // EQUAL, GREATER, LESS, NOT_EQUAL
	Target   string `json:"target"` // VERSION, CREATE, MOD, VALUE, LEASE
	Key      []byte `json:"key,omitempty"`
	RangeEnd []byte `json:"range_end,omitempty"`
	// The target's value: a oneof, so the one that is set is sent even
	// when it is 0 (comparing a create revision to 0 asks "absent").
	Version        *int64 `json:"version,string,omitempty"`
	CreateRevision *int64 `json:"create_revision,string,omitempty"`
	ModRevision    *int64 `json:"mod_revision,string,omitempty"`
}

// RequestOp is one request of a transaction; exactly one field is set.
type RequestOp struct {
	Range       *RangeRequest       `json:"request_range,omitempty"`
	Put         *PutRequest         `json:"request_put,omitempty"`
	DeleteRange *DeleteRangeRequest `json:"request_delete_range,omitempty"`
}

// ResponseOp is the answer to the RequestOp at the same place.
type ResponseOp struct {
	Range       *RangeResponse       `json:"response_range,omitempty"`
	Put         *PutResponse         `json:"response_put,omitempty"`
	DeleteRange *DeleteRangeResponse `json:"response_delete_range,omitempty"`
}

// TxnRequest runs Success if every Compare holds, Failure otherwise, as
// one step of the store.
type TxnRequest struct {
	Compare []Compare   `json:"compare,omitempty"`
	Success []RequestOp `json:"success,omitempty"`
	Failure []RequestOp `json:"failure,omitempty"`
}

// TxnResponse says which branch ran and holds its answers.
type TxnResponse struct {
	Header    ResponseHeader `json:"header"`
	Succeeded bool           `json:"succeeded,omitempty"`
	Responses []ResponseOp   `json:"responses,omitempty"`
}

type leaseGrantRequest struct {
	TTL int64   `json:"TTL,string"`
	ID  LeaseID `json:"ID,string,omitempty"`
}

// LeaseGrantResponse is a new lease and the TTL the cluster gave it.
type LeaseGrantResponse struct {
	Header ResponseHeader `json:"header"`
	ID     LeaseID        `json:"ID,string,omitempty"`
	TTL    int64          `json:"TTL,string,omitempty"`
}

type leaseIDRequest struct {
	ID LeaseID `json:"ID,string"`
}

// LeaseKeepAliveResponse is a renewed lease's new TTL; a TTL of 0 or less
// says the lease is gone (expired or revoked).
type LeaseKeepAliveResponse struct {
	Header ResponseHeader `json:"header"`
	ID     LeaseID        `json:"ID,string,omitempty"`
	TTL    int64          `json:"TTL,string,omitempty"`
}

// Member is one member of the cluster.
type Member struct {
	ID         uint64   `json:"ID,string,omitempty"`
	Name       string   `json:"name,omitempty"`
	PeerURLs   []string `json:"peerURLs,omitempty"`
	ClientURLs []string `json:"clientURLs,omitempty"`
	IsLearner  bool     `json:"isLearner,omitempty"`
}

// MemberListResponse lists the cluster's members.
type MemberListResponse struct {
	Header  ResponseHeader `json:"header"`
	Members []Member       `json:"members,omitempty"`
}

// WatchCreateRequest starts a watch of Key, or of [Key, RangeEnd), from
// StartRevision (0: from the next change).
type WatchCreateRequest struct {
	Key           []byte `json:"key,omitempty"`
	RangeEnd      []byte `json:"range_end,omitempty"`
	StartRevision int64  `json:"start_revision,string,omitempty"`
}

type watchRequest struct {
	Create *WatchCreateRequest `json:"create_request,omitempty"`
}

// WatchResponse is one message of a watch stream.
type WatchResponse struct {
	Header  ResponseHeader `json:"header"`
	WatchID int64          `json:"watch_id,string,omitempty"`
	Created bool           `json:"created,omitempty"`
	// Canceled says the server ended the watch; CompactRevision, when set,
	// that it did because the revision asked for is compacted away.
	Canceled        bool     `json:"canceled,omitempty"`
	CompactRevision int64    `json:"compact_revision,string,omitempty"`
	CancelReason    string   `json:"cancel_reason,omitempty"`
	Events          []*Event `json:"events,omitempty"`
}

// Err says why the server ended the watch, or nil while it goes on.
func (w *WatchResponse) Err() error {
	switch {
	case w.CompactRevision != 0:
		return fmt.Errorf("%w (compacted up to revision %d)", ErrCompacted, w.CompactRevision)
	case w.Canceled && w.CancelReason != "":
		return &Error{Code: CodeCanceled, Message: "watch canceled: " + w.CancelReason}
	case w.Canceled:
		return &Error{Code: CodeCanceled, Message: "watch canceled"}
	}
	return nil
}

// EventType is PUT or DELETE.
type EventType int32

// Event types, with mvccpb's numbers.
const (
	EventPut    EventType = 0
	EventDelete EventType = 1
)

// UnmarshalJSON reads the type by name, as the gateway writes it, or by
// number.
func (t *EventType) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		n, nerr := strconv.ParseInt(string(b), 10, 32)
		if nerr != nil {
			return fmt.Errorf("event type %s: %w", b, err)
		}
		*t = EventType(n)
		return nil
	}
	switch name {
	case "PUT":
		*t = EventPut
	case "DELETE":
		*t = EventDelete
	default:
		return fmt.Errorf("event type %q: want PUT or DELETE", name)
	}
	return nil
}

// Event is one change of a watched key: Kv is the key after a put, or the
// key with its deletion revision (and no value) after a delete.
type Event struct {
	Type EventType `json:"type,omitempty"`
	Kv   *KeyValue `json:"kv,omitempty"`
}
