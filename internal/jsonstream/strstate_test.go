package jsonstream

import "testing"

func TestStringState(t *testing.T) {
	text := `{"a\"b\\": "c", "d": ["e\\\"", 1]} "x`
	want := "_SSSSSSSS__SSS__SSS___SSSSSSS______SS"
	var s StringState
	got := make([]byte, len(text))
	for i := range len(text) {
		got[i] = '_'
		if s.Step(text[i]) {
			got[i] = 'S'
		}
	}
	if string(got) != want {
		t.Errorf("in a string:\n%s\n%s; want\n%s", text, got, want)
	}
	if !s.In() {
		t.Error("In() = false after an opening quote; want true")
	}
}
