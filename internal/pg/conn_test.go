package pg

import "testing"

func TestMajorOf(t *testing.T) {
	for v, want := range map[string]int{
		"15.4 (Debian 15.4-1.pgdg120+1)": 15,
		"9.6.24":                         9,
		"17beta1":                        17,
		"10.23":                          10,
		"":                               0,
		"x":                              0,
	} {
		if got := majorOf(v); got != want {
			t.Errorf("majorOf(%q) = %d, want %d", v, got, want)
		}
	}
}
