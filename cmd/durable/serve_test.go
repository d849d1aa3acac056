package main

import (
	"strings"
	"testing"
)

func TestServeRefusesWithoutAuthentication(t *testing.T) {
	t.Setenv(envToken, "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--db", "x.db"}, "no token"},
		{[]string{"--db", "x.db", "--no-auth", "--token", "0123456789abcdef0"}, "give one"},
		{[]string{"--db", "x.db", "--token", "short"}, "at least 16"},
		{[]string{"--token", "0123456789abcdef0"}, "no store"},
	} {
		var out, errOut strings.Builder
		code := run(append([]string{"serve"}, c.args...), &out, &errOut)
		if code == exitOK || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("serve %v: exit %d, stderr %q, want an error saying %q", c.args, code, errOut.String(), c.want)
		}
	}
}
