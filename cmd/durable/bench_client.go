package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// leanConn is the server workload's HTTP/1.1 client: one keep-alive
// connection, as wrk's, so that the load generator costs little beside the
// server it measures (net/http's client took about a quarter of the
// process's CPU). A request is written with one write of pre-encoded
// headers and its body; an answer is read by its status line and
// Content-Length (the API never answers chunked). Every answer's status
// is returned for the caller to check. It is not a general client: no
// redirects, no chunked bodies, no TLS.
type leanConn struct {
	addr   string // host:port
	head   map[string][]byte
	conn   net.Conn
	br     *bufio.Reader
	out    []byte // the request being written
	body   []byte // the last answer's body
	closed bool   // the server asked to close the connection
}

func newLeanConn(addr string) *leanConn {
	return &leanConn{addr: addr, head: map[string][]byte{}}
}

// header is the pre-encoded head of a request of method on path, up to its
// Content-Length's value.
func (l *leanConn) header(method, path string) []byte {
	key := method + " " + path
	if h, ok := l.head[key]; ok {
		return h
	}
	h := []byte(method + " " + path + " HTTP/1.1\r\nHost: " + l.addr +
		"\r\nAuthorization: Bearer " + serverToken +
		"\r\nContent-Type: application/json\r\nContent-Length: ")
	l.head[key] = h
	return h
}

// roundTrip sends one request and returns the answer's status and body
// (valid until the next call). A broken connection is dialled again at the
// next call.
func (l *leanConn) roundTrip(method, path string, body []byte) (int, []byte, error) {
	if l.conn == nil || l.closed {
		if err := l.dial(); err != nil {
			return 0, nil, err
		}
	}
	l.out = append(l.out[:0], l.header(method, path)...)
	l.out = strconv.AppendInt(l.out, int64(len(body)), 10)
	l.out = append(l.out, "\r\n\r\n"...)
	l.out = append(l.out, body...)
	if _, err := l.conn.Write(l.out); err != nil {
		l.drop()
		return 0, nil, err
	}
	status, err := l.readAnswer()
	if err != nil {
		l.drop()
		return 0, nil, err
	}
	return status, l.body, nil
}

func (l *leanConn) dial() error {
	l.drop()
	c, err := net.DialTimeout("tcp", l.addr, 10*time.Second)
	if err != nil {
		return err
	}
	l.conn, l.closed = c, false
	if l.br == nil {
		l.br = bufio.NewReaderSize(c, 64<<10)
	} else {
		l.br.Reset(c)
	}
	return nil
}

func (l *leanConn) drop() {
	if l.conn != nil {
		l.conn.Close()
		l.conn = nil
	}
}

// Close closes the connection.
func (l *leanConn) Close() { l.drop() }

var errAnswer = errors.New("malformed HTTP answer")

// readAnswer reads a status line, the headers and a body of
// Content-Length bytes into l.body.
func (l *leanConn) readAnswer() (int, error) {
	line, err := l.br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, fmt.Errorf("%w: status line %q", errAnswer, line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("%w: status line %q", errAnswer, line)
	}
	length := -1
	for {
		line, err := l.br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, fmt.Errorf("%w: header line %q", errAnswer, line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return 0, fmt.Errorf("%w: Content-Length %q", errAnswer, value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return 0, fmt.Errorf("%w: Transfer-Encoding %q (only Content-Length is read)", errAnswer, value)
		case bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(value, []byte("close")):
			l.closed = true
		}
	}
	if length < 0 {
		return 0, fmt.Errorf("%w: no Content-Length", errAnswer)
	}
	if cap(l.body) < length {
		l.body = make([]byte, length)
	}
	l.body = l.body[:length]
	if _, err := io.ReadFull(l.br, l.body); err != nil {
		return 0, err
	}
	return status, nil
}

// enqueuedID is the id in an answer to a single enqueue,
// {"id":"…","task_id":"…"}, read without decoding the whole answer
// (package api's Enqueued writes id first; ids hold no escapes); nil when
// the answer has none.
func enqueuedID(b []byte) []byte {
	rest, ok := bytes.CutPrefix(b, []byte(`{"id":"`))
	if !ok {
		return nil
	}
	end := bytes.IndexByte(rest, '"')
	if end <= 0 || bytes.IndexByte(rest[:end], '\\') >= 0 {
		return nil
	}
	return rest[:end]
}
