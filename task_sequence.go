package durable

import "fmt"

// NewSequence registers a sequence: the steps run one after another, each
// step's output is the next step's input, and the last step's output is
// the sequence's output. A failing step stops the chain and the sequence
// ends finalize_failed, naming the step. Steps may be plain, parent,
// looping or sleeping tasks (a sleeping step's key is the previous output,
// which must be a string). Types are checked at registration: the first
// step takes an I, the last produces an O, and each output type is the
// next input type.
func NewSequence[I, O any](ex *Executor, id string, steps ...TaskRef) (*Task[I, O], error) {
	if len(steps) == 0 {
		return nil, fmt.Errorf("%w: sequence %q: no steps", ErrInvalidTask, id)
	}
	d, err := newDef[I, O](ex, id, kindSequence, nil)
	if err != nil {
		return nil, err
	}
	prev := typeOf[I]()
	for i, s := range steps {
		if s == nil || s.def() == nil { // nil, or a nil or zero *Task inside the interface
			return nil, alsoIs(fmt.Errorf("%w: sequence %q: step %d is nil or not a registered task", ErrInvalidTask, id, i), ErrUnknownTask)
		}
		sd := s.def()
		if ex.lookup(sd.id) != sd {
			return nil, alsoIs(fmt.Errorf("%w: sequence %q: step %d (%s) is not registered with this executor", ErrInvalidTask, id, i, sd.id), ErrUnknownTask)
		}
		if sd.inType != prev {
			return nil, fmt.Errorf("%w: sequence %q: step %d (%s) takes %v but receives %v", ErrInvalidTask, id, i, sd.id, sd.inType, prev)
		}
		prev = sd.outType
		d.steps = append(d.steps, sd)
	}
	if prev != typeOf[O]() {
		return nil, fmt.Errorf("%w: sequence %q: last step produces %v, not %v", ErrInvalidTask, id, prev, typeOf[O]())
	}
	d.validate = steps[0].def().validate
	return register[I, O](ex, d)
}
