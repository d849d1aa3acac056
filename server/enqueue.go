package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/api"
)

// child makes an enqueue request into a Child of the executor's task; its
// errors name the request's fields (see itemError for a batch's items).
func (h *Handler) child(req api.EnqueueRequest) (durable.Child, error) {
	fieldErr := func(field string, err error) error { return &api.FieldError{Field: field, Err: err} }
	if req.Task == "" {
		return durable.Child{}, fieldErr("task", fmt.Errorf("%w: task is required", api.ErrInvalidRequest))
	}
	info, ok := h.ex.Task(req.Task)
	if !ok {
		return durable.Child{}, fieldErr("task", fmt.Errorf("%w: task %q is not registered with the server's executor", durable.ErrUnknownTask, req.Task))
	}
	opts, err := enqueueOptions(req)
	if err != nil {
		return durable.Child{}, err
	}
	if info.Sleeping {
		if len(req.Input) > 0 {
			return durable.Child{}, fieldErr("input", fmt.Errorf("%w: sleeping task %s takes sleep_key, not input", durable.ErrInvalidInput, req.Task))
		}
		c, err := h.ex.SleepingChildByID(req.Task, req.SleepKey, opts...)
		if err != nil {
			return c, fieldErr("sleep_key", err)
		}
		return c, nil
	}
	if req.SleepKey != "" {
		return durable.Child{}, fieldErr("sleep_key", fmt.Errorf("%w: task %s is a %s: sleep_key is for sleeping tasks", durable.ErrInvalidInput, req.Task, info.Kind))
	}
	c, err := h.ex.ChildByID(req.Task, req.Input, opts...)
	var ie *durable.InputError
	if errors.As(err, &ie) {
		field := "input"
		if ie.Path != "" {
			field += "." + ie.Path
		}
		return c, fieldErr(field, err)
	}
	return c, err
}

// itemError names the fields of the i-th item of a batch in err, a
// FieldError of its request: made only when an item fails, since a
// batch's items are many.
func itemError(i int, err error) error {
	var fe *api.FieldError
	if errors.As(err, &fe) {
		fe.Field = fmt.Sprintf("items[%d].", i) + fe.Field
	}
	return err
}

// enqueueOptions makes a request's options into durable's, checking each
// so that an error names its field.
func enqueueOptions(req api.EnqueueRequest) ([]durable.EnqueueOption, error) {
	var opts []durable.EnqueueOption
	add := func(field string, opt durable.EnqueueOption) error {
		if err := durable.CheckEnqueueOption(opt); err != nil {
			return &api.FieldError{Field: field, Err: err}
		}
		opts = append(opts, opt)
		return nil
	}
	if req.DelayMs != nil {
		d, err := millis("delay_ms", *req.DelayMs)
		if err != nil {
			return nil, err
		}
		if err := add("delay_ms", durable.WithDelay(d)); err != nil {
			return nil, err
		}
	}
	if req.TimeoutMs != nil {
		d, err := millis("timeout_ms", *req.TimeoutMs)
		if err != nil {
			return nil, err
		}
		if err := add("timeout_ms", durable.WithTimeout(d)); err != nil {
			return nil, err
		}
	}
	if req.Retry != nil {
		p, err := retryPolicy(*req.Retry)
		if err != nil {
			return nil, err
		}
		if err := add("retry", durable.WithRetry(p)); err != nil {
			return nil, err
		}
	}
	if req.IdempotencyKey != "" {
		if err := add("idempotency_key", durable.WithIdempotencyKey(req.IdempotencyKey)); err != nil {
			return nil, err
		}
	}
	if req.IdempotencyWhileActive {
		if req.IdempotencyKey == "" {
			return nil, &api.FieldError{Field: "idempotency_while_active",
				Err: fmt.Errorf("%w: needs idempotency_key", durable.ErrInvalidOption)}
		}
		opts = append(opts, durable.WithIdempotencyWhileActive())
	}
	if req.Tags != nil {
		if err := add("tags", durable.WithTags(req.Tags...)); err != nil {
			return nil, err
		}
	}
	if req.Queue != "" {
		if err := add("queue", durable.WithQueue(req.Queue)); err != nil {
			return nil, err
		}
	}
	if req.ConcurrencyKey != "" {
		if err := add("concurrency_key", durable.WithConcurrencyKey(req.ConcurrencyKey)); err != nil {
			return nil, err
		}
	}
	if req.Priority != nil {
		if err := add("priority", durable.WithPriority(*req.Priority)); err != nil {
			return nil, err
		}
	}
	return opts, nil
}

func retryPolicy(p api.RetryPolicy) (durable.RetryPolicy, error) {
	if _, err := millis("retry.base_delay_ms", p.BaseDelayMs); err != nil {
		return durable.RetryPolicy{}, err
	}
	if _, err := millis("retry.max_delay_ms", p.MaxDelayMs); err != nil {
		return durable.RetryPolicy{}, err
	}
	return p.Policy(), nil
}

// millis is ms milliseconds as a Duration, if it fits one.
func millis(field string, ms int64) (time.Duration, error) {
	const most = math.MaxInt64 / int64(time.Millisecond)
	if ms < -most || ms > most {
		return 0, &api.FieldError{Field: field, Err: fmt.Errorf("%w: %d ms is out of range", durable.ErrInvalidOption, ms)}
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// payloadJSON checks a payload given as JSON (absent: null).
func payloadJSON(b json.RawMessage) ([]byte, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return []byte("null"), nil
	}
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("%w: not valid UTF-8", durable.ErrInvalidInput)
	}
	return b, nil
}
