package admin

import "testing"

func TestSeries(t *testing.T) {
	for _, tc := range []struct {
		labels []string
		want   string
	}{
		{nil, `m`},
		{[]string{"a", "x"}, `m{a="x"}`},
		{[]string{"a", `q"b\c` + "\n", "b", "y"}, `m{a="q\"b\\c\n",b="y"}`},
	} {
		if got := series("m", tc.labels...); got != tc.want {
			t.Errorf("series(m, %q) = %s; want %s", tc.labels, got, tc.want)
		}
	}
}
