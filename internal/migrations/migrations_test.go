package migrations

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	fs := fstest.MapFS{
		"002_more.sql": {Data: []byte("B")},
		"001_init.sql": {Data: []byte("A")},
		"README.md":    {Data: []byte("not a migration")},
	}
	got, err := Load(fs)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "001_init" || got[0].SQL != "A" || got[1].Version != 2 || got[0].Checksum == got[1].Checksum {
		t.Fatalf("Load = %+v", got)
	}
	for name, bad := range map[string]fstest.MapFS{
		"no files":    {},
		"a gap":       {"001_a.sql": {}, "003_c.sql": {}},
		"a bad name":  {"init.sql": {}},
		"version 0":   {"000_zero.sql": {}},
		"a duplicate": {"001_a.sql": {}, "001_b.sql": {}},
	} {
		if _, err := Load(bad); err == nil {
			t.Errorf("%s: Load accepted it", name)
		} else if !strings.Contains(err.Error(), "migration") {
			t.Errorf("%s: error %q does not say what is wrong", name, err)
		}
	}
}
