package ordjson

import "testing"

func TestObjectKeepsOrder(t *testing.T) {
	var o Object
	o.Add("z", 1)
	o.Add("a", "<b>")
	o = o.Set("z", Object{{"m", true}})
	o = o.Set("n", nil)
	got, err := o.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"z":{"m":true},"a":"<b>","n":null}`; string(got) != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if _, err := (Object{{1, 2}}).MarshalJSON(); err == nil {
		t.Fatal("a key that is not a string is refused")
	}
	if got, _ := (Object{}).MarshalJSON(); string(got) != "{}" {
		t.Fatalf("empty object: %s", got)
	}
}
