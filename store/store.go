// Package store keeps the dialer's state in Redis: campaigns, calendars,
// agents, members and their queues, the attempt journal, the call history
// and statistics.
//
// Every key of a campaign carries the campaign's hash tag
// (dialer:{<campaign id>}:...) so each Lua script touches one slot and the
// store runs on Redis Cluster as on a single node. A member sits in exactly
// one of five sorted sets (ready, waiting, leased, result, done); every move
// between them happens in one script, checked against the member's lease
// token and version, so a member is never held by two dialers and never
// half-written. With Config.URL "embedded" the same client and scripts run
// against an in-process Redis (miniredis), the default for demos.
package store

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Config says which Redis to use.
type Config struct {
	// URL is "embedded" for an in-process Redis, or a redis:// or rediss://
	// URL (user, password, database, TLS and go-redis's options such as
	// dial_timeout kept): one node; a Redis Cluster with cluster=true
	// (redis://host:port?cluster=true&addr=host2:port2, one address is
	// enough, the others are found); Sentinel with master_name (the host
	// and every addr are sentinels:
	// redis://host:26379?master_name=NAME&addr=host2:26379). Empty: use
	// Addrs.
	URL string
	// Addrs, MasterName, Username, Password and DB configure a
	// UniversalClient: one address is a single node, several a cluster,
	// a MasterName makes it Sentinel.
	Addrs      []string
	MasterName string
	Username   string
	Password   string
	DB         int
	// HistoryLen bounds each campaign's call history stream (default 100,000).
	HistoryLen int64
	// Timeout bounds connecting and each command (default 5 s): a Redis that
	// stops answering is reported, not waited for.
	Timeout time.Duration
	// WaitReplicas is how many replicas the writes that must survive a
	// failover wait for (WAIT, see replicas.go), on Sentinel and Cluster
	// only: a single node has nothing to fail over to. 0: none.
	WaitReplicas int
	// WaitTimeout bounds each WAIT (default 1 s, at most half of Timeout:
	// its reply must come within it); a write the replicas did not
	// acknowledge in time fails with ErrNotReplicated, unless the master
	// has too few replicas to wait for (replicas.go).
	WaitTimeout time.Duration
}

// Store is the Redis data layer. Its methods are safe for concurrent use.
type Store struct {
	rdb        redis.UniversalClient
	mini       *miniredis.Miniredis
	historyLen int64
	repl       replication
}

// Open connects to Redis (or starts the embedded one) and checks it answers.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	s := &Store{historyLen: cfg.HistoryLen}
	if s.historyLen <= 0 {
		s.historyLen = 100000
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	// A timeout the URL gives is kept; the others are the store's.
	timeouts := func(dial, read, write *time.Duration) {
		for _, d := range []*time.Duration{dial, read, write} {
			if *d == 0 {
				*d = timeout
			}
		}
	}
	const retries = 1 // callers retry on their own terms (the engine keeps what it could not write)
	switch {
	case cfg.URL == "embedded":
		m, err := miniredis.Run()
		if err != nil {
			return nil, fmt.Errorf("start embedded redis: %w", err)
		}
		s.mini = m
		s.rdb = redis.NewClient(&redis.Options{Addr: m.Addr(), DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, MaxRetries: retries})
	case cfg.URL != "":
		rdb, err := clientOfURL(cfg.URL, timeouts, retries)
		if err != nil {
			return nil, err
		}
		s.rdb = rdb
	default:
		if len(cfg.Addrs) == 0 {
			return nil, errors.New("redis: no url and no addresses configured")
		}
		opts := redis.UniversalOptions{Addrs: cfg.Addrs, MasterName: cfg.MasterName, Username: cfg.Username, Password: cfg.Password, DB: cfg.DB, MaxRetries: retries}
		timeouts(&opts.DialTimeout, &opts.ReadTimeout, &opts.WriteTimeout)
		if opts.MasterName == "" && len(opts.Addrs) > 1 {
			co := opts.Cluster()
			co.ClusterStateReloadInterval = clusterReload
			s.rdb = redis.NewClusterClient(co)
		} else {
			s.rdb = redis.NewUniversalClient(&opts)
		}
	}
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if failover(cfg, s.rdb) {
		s.repl.replicas = cfg.WaitReplicas
	}
	// A WAIT's reply comes within the command timeout: at most half of it.
	s.repl.timeout = min(cmp.Or(cfg.WaitTimeout, time.Second), timeout/2)
	return s, nil
}

// failover reports whether the client follows a failover: a Cluster
// client, or one that finds its master through Sentinel.
func failover(cfg Config, rdb redis.UniversalClient) bool {
	if _, ok := rdb.(*redis.ClusterClient); ok {
		return true
	}
	if cfg.URL == "" || cfg.URL == "embedded" {
		return cfg.MasterName != ""
	}
	u, err := url.Parse(cfg.URL)
	return err == nil && u.Query().Has("master_name")
}

// clusterReload is how old a cluster client's map of slots to masters
// may grow before the next command reloads it (in the background).
// go-redis reloads it at once only when a node answers MOVED or ASK; a
// master that died answers nothing, so with go-redis's default (60 s) the
// store went on dialing the dead master for up to a minute after a
// replica had taken its place (TestChaosFailover found it: 55.7 s without
// a call after a 3.7 s promotion). One CLUSTER SLOTS a second is cheap.
const clusterReload = time.Second

// clientOfURL makes the client a URL names: a Redis Cluster with
// cluster=true, Sentinel with master_name, else one node.
func clientOfURL(raw string, timeouts func(dial, read, write *time.Duration), retries int) (redis.UniversalClient, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	q := u.Query()
	switch {
	case q.Has("master_name"):
		o, err := redis.ParseFailoverURL(raw)
		if err != nil {
			return nil, fmt.Errorf("redis url (sentinel): %w", err)
		}
		timeouts(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout)
		o.MaxRetries = retries
		return redis.NewFailoverClient(o), nil
	case q.Has("cluster"):
		cluster, err := strconv.ParseBool(q.Get("cluster"))
		if err != nil {
			return nil, fmt.Errorf("redis url: cluster=%q: want true or false", q.Get("cluster"))
		}
		q.Del("cluster")
		u.RawQuery = q.Encode()
		if !cluster {
			return clientOfURL(u.String(), timeouts, retries)
		}
		o, err := redis.ParseClusterURL(u.String())
		if err != nil {
			return nil, fmt.Errorf("redis url (cluster): %w", err)
		}
		timeouts(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout)
		o.MaxRetries = retries
		o.ClusterStateReloadInterval = clusterReload
		return redis.NewClusterClient(o), nil
	}
	o, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	timeouts(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout)
	o.MaxRetries = retries
	return redis.NewClient(o), nil
}

// Ping checks Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// Close closes the connection (and stops the embedded Redis).
func (s *Store) Close() error {
	err := s.rdb.Close()
	if s.mini != nil {
		s.mini.Close()
	}
	return err
}

// Client returns the underlying client (for INFO and administrative use).
func (s *Store) Client() redis.UniversalClient { return s.rdb }

// Embedded reports whether the store runs on the in-process Redis.
func (s *Store) Embedded() bool { return s.mini != nil }

// key returns the key of a campaign's part; the braces make the campaign id
// the hash tag.
func key(campaign, part string) string { return "dialer:{" + campaign + "}:" + part }

const (
	campaignIndexKey = "dialer:campaigns" // zset: id -> created (ms)
	calendarsKey     = "dialer:calendars" // hash: id -> JSON
)

func gatewayKey(name string) string { return "dialer:{gw:" + name + "}:calls" }

// memberKeys are a campaign's keys in the order the scripts take them.
type memberKeys struct {
	members, numbers, ready, waiting, rank, leased, lease, result, done, journal, history, stats, win string
	last                                                                                              string // the request ids of the last claim and takes
}

func keysOf(campaign string) memberKeys {
	k := func(p string) string { return key(campaign, p) }
	return memberKeys{
		members: k("members"), numbers: k("numbers"), ready: k("ready"), waiting: k("waiting"),
		rank: k("rank"), leased: k("leased"), lease: k("lease"), result: k("result"), done: k("done"),
		journal: k("journal"), history: k("history"), stats: k("stats"), win: k("win"), last: k("last"),
	}
}

func (k memberKeys) all() []string {
	return []string{k.members, k.numbers, k.ready, k.waiting, k.rank, k.leased, k.lease, k.result, k.done, k.journal, k.history, k.stats, k.win}
}

// NewID returns a 24-hex-digit id like the seed's (a MongoDB ObjectId):
// seconds since the epoch, then random bytes.
func NewID() string {
	var b [12]byte
	t := uint32(time.Now().Unix())
	b[0], b[1], b[2], b[3] = byte(t>>24), byte(t>>16), byte(t>>8), byte(t)
	_, _ = rand.Read(b[4:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// NewToken returns a random lease token.
func NewToken() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// memberID formats a member's sequence number: 7 base-36 digits, fixed
// width, so that ties in the queues break by insertion order.
func memberID(seq int64) string {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	var b [7]byte
	for i := 6; i >= 0; i-- {
		b[i] = digits[seq%36]
		seq /= 36
	}
	return string(b[:])
}

// ErrUnavailable is wrapped by the errors of Redis not serving: it could
// not be reached or did not answer in time (Config.Timeout), the connection
// broke, or it answered that it cannot serve now (LOADING, READONLY,
// MASTERDOWN, CLUSTERDOWN, TRYAGAIN, BUSY, OOM, MISCONF, NOREPLICAS, too
// many clients, or a refused password or permission). The same call may
// succeed once Redis is back. Other store errors are not outages: a
// command Redis refused (WRONGTYPE, a script error) or a stored document
// that does not decode is a bug or bad data, and a caller's own context
// ending is the caller's doing; none of them wraps ErrUnavailable.
var ErrUnavailable = errors.New("redis unavailable")

// wrapRedis names the operation of an error returned by the Redis client:
// redis.Nil becomes ErrNotFound, Redis not serving wraps ErrUnavailable.
// An error that did not come from Redis gets neither, so passing one is
// harmless.
func wrapRedis(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.Nil):
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	case redisUnavailable(err):
		return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("%s: redis: %w", op, err)
}

// redisUnavailable tells Redis not serving from Redis refusing what was
// asked and from the caller giving up.
func redisUnavailable(err error) bool {
	var reply redis.Error
	if errors.As(err, &reply) {
		return redis.IsLoadingError(err) || redis.IsReadOnlyError(err) || redis.IsMasterDownError(err) ||
			redis.IsClusterDownError(err) || redis.IsTryAgainError(err) || redis.IsOOMError(err) ||
			redis.IsNoReplicasError(err) || redis.IsMaxClientsError(err) || redis.IsAuthError(err) ||
			redis.IsPermissionError(err) || redis.HasErrorPrefix(err, "BUSY ") || redis.HasErrorPrefix(err, "MISCONF")
	}
	// A failed dial may carry the context's deadline, but Redis did not
	// accept the connection in time.
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	// Before net.Error, which context.DeadlineExceeded satisfies too.
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, redis.ErrClosed) || errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrPoolExhausted)
}

// scriptReply turns a write script's status reply into an error.
func scriptReply(op, reply string) error {
	switch {
	case reply == "OK":
		return nil
	case reply == "NOT_FOUND":
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	case reply == "LEASE_LOST":
		return fmt.Errorf("%s: %w", op, ErrLeaseLost)
	case reply == "VERSION":
		return fmt.Errorf("%s: %w", op, ErrChanged)
	case reply == "LEASED":
		return fmt.Errorf("%s: %w", op, ErrBeingCalled)
	case strings.HasPrefix(reply, "DUP:"):
		parts := strings.SplitN(reply, ":", 3)
		return fmt.Errorf("%s: %w", op, &DuplicateNumberError{Number: parts[1], Member: parts[2]})
	}
	return fmt.Errorf("%s: unexpected reply %q", op, reply)
}

// DuplicateNumberError is the conflict of a number another member of the
// campaign already has.
type DuplicateNumberError struct {
	Number, Member string
}

func (e *DuplicateNumberError) Error() string {
	return fmt.Sprintf("number %s already belongs to member %s", e.Number, e.Member)
}

// Unwrap makes it an ErrConflict.
func (e *DuplicateNumberError) Unwrap() error { return ErrConflict }
