package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/durable-go/durable/storage"
)

// maxPayload bounds one notification's payload; PostgreSQL refuses
// payloads of 8000 bytes or more.
const maxPayload = 7900

// payload is the JSON form of a notification: an event, and the tag of the
// store that sent it (empty for InsertTx, whose events are delivered only
// through the notification).
type payload struct {
	Sender   string   `json:"s,omitempty"`
	Ready    bool     `json:"r,omitempty"`
	Finished []string `json:"f,omitempty"`
}

// payloads encodes ev as notification payloads under maxPayload bytes
// each, chunking the finished ids; only the first carries Ready. An id too
// long to fit in a payload on its own is left out (other processes then
// find out by polling).
func payloads(sender string, ev storage.Event) []string {
	var out []string
	p := payload{Sender: sender, Ready: ev.Ready}
	size := 0 // encoded size of p.Finished's elements and commas
	flush := func() {
		if p.Ready || len(p.Finished) > 0 {
			b, _ := json.Marshal(p)
			out = append(out, string(b))
		}
		p, size = payload{Sender: sender}, 0
	}
	overhead := len(`{"s":"","r":true,"f":[]}`) + len(sender)
	for _, id := range ev.Finished {
		enc, _ := json.Marshal(id)
		if overhead+len(enc) > maxPayload {
			continue
		}
		if len(p.Finished) > 0 && overhead+size+1+len(enc) > maxPayload {
			flush()
		}
		if len(p.Finished) > 0 {
			size++
		}
		size += len(enc)
		p.Finished = append(p.Finished, id)
	}
	flush()
	return out
}

// ownPayload reports, without decoding it, whether a payload was sent by
// the store tagged tag: both producers (payloads and complete_done's
// json_build_object) write the sender first, as {"s":"tag" or
// {"s" : "tag".
func ownPayload(raw, tag string) bool {
	rest, ok := strings.CutPrefix(raw, `{"s"`)
	if !ok {
		return false
	}
	rest = strings.TrimLeft(rest, " ")
	if rest, ok = strings.CutPrefix(rest, ":"); !ok {
		return false
	}
	return strings.HasPrefix(strings.TrimLeft(rest, " "), `"`+tag+`"`)
}

// queueNotify queues the notifications of ev on batch, unless
// notifications are off.
func (s *Store) queueNotify(batch *pgx.Batch, sender string, ev storage.Event) {
	if s.cfg.DisableNotifications {
		return
	}
	for _, p := range payloads(sender, ev) {
		batch.Queue(s.q.notify, namedArgs{"channel": s.channel, "payload": p})
	}
}

// Listener timing.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 5 * time.Second
	// defaultPingEvery is how long the listener waits for a notification
	// before checking that its connection is alive.
	defaultPingEvery = 30 * time.Second
)

// listener turns the notifications of the store's channel into events. It
// holds one dedicated connection, taken out of the pool (Acquire, then
// Hijack, so the pool's connect hooks apply), and reconnects with
// exponential backoff when it drops.
type listener struct {
	s      *Store
	cancel context.CancelFunc
	done   chan struct{}

	// connects counts successful LISTENs (the first one included); pings
	// the pings of an idle connection that succeeded.
	connects, pings atomic.Int64
}

// startListener connects and LISTENs before returning, so that every
// notification sent after Open returns is seen, then waits for
// notifications in a goroutine.
func startListener(ctx context.Context, s *Store) (*listener, error) {
	l := &listener{s: s, done: make(chan struct{})}
	conn, err := l.connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: listen on channel %s: %w", s.channel, err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go l.run(runCtx, conn)
	return l, nil
}

func (l *listener) connect(ctx context.Context) (*pgx.Conn, error) {
	pc, err := l.s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	conn := pc.Hijack()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{l.s.channel}.Sanitize()); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	l.connects.Add(1)
	return conn, nil
}

// stop ends the goroutine and closes the connection.
func (l *listener) stop() {
	l.cancel()
	<-l.done
}

func (l *listener) run(ctx context.Context, conn *pgx.Conn) {
	defer close(l.done)
	backoff := minBackoff
	for {
		if conn == nil {
			c, err := l.connect(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				l.s.cfg.Logger.Warn("postgres listener: reconnect failed",
					"channel", l.s.channel, "err", err, "retry_in", backoff)
				if sleepCtx(ctx, backoff) != nil {
					return
				}
				backoff = min(2*backoff, maxBackoff)
				continue
			}
			conn, backoff = c, minBackoff
			l.s.cfg.Logger.Info("postgres listener: reconnected", "channel", l.s.channel)
			// Notifications sent while disconnected are lost: poll.
			l.s.publish(storage.Event{Ready: true})
		}
		err := l.receive(ctx, conn)
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = conn.Close(closeCtx)
		cancel()
		conn = nil
		if ctx.Err() != nil {
			return
		}
		l.s.cfg.Logger.Warn("postgres listener: connection lost", "channel", l.s.channel, "err", err)
	}
}

// receive delivers notifications until the connection fails or ctx ends.
func (l *listener) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		waitCtx, cancel := context.WithTimeout(ctx, l.s.cfg.pingEvery)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case err == nil:
			l.deliver(n.Payload)
		case ctx.Err() != nil:
			return ctx.Err()
		case waitCtx.Err() != nil && !conn.IsClosed():
			pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = conn.Ping(pingCtx)
			cancel()
			if err != nil {
				return fmt.Errorf("ping: %w", err)
			}
			l.pings.Add(1)
		default:
			return err
		}
	}
}

// deliver publishes the event of one notification, unless this store sent
// it (and so already delivered it). A payload it cannot read is delivered
// as Ready, which makes the engine poll.
func (l *listener) deliver(raw string) {
	if ownPayload(raw, l.s.tag) {
		return // this store published the event when it wrote
	}
	var p payload
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		l.s.cfg.Logger.Warn("postgres listener: unreadable notification", "channel", l.s.channel, "err", err)
		l.s.publish(storage.Event{Ready: true})
		return
	}
	if p.Sender != "" && p.Sender == l.s.tag {
		return
	}
	l.s.publish(storage.Event{Ready: p.Ready, Finished: p.Finished})
}
