package pg

import "testing"

func TestServerVersion(t *testing.T) {
	for v, want := range map[string][2]int{
		"15.4 (Debian 15.4-1.pgdg120+1)": {15, 4},
		"9.6.24":                         {9, 6},
		"17beta1":                        {17, 0},
		"10.23":                          {10, 23},
		"":                               {0, 0},
		"x":                              {0, 0},
	} {
		if major, minor := serverVersion(v); major != want[0] || minor != want[1] {
			t.Errorf("serverVersion(%q) = %d, %d, want %v", v, major, minor, want)
		}
	}
}
