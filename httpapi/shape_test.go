package httpapi

import (
	"reflect"
	"testing"

	"github.com/fsdialer/fsdialer/store"
)

// TestShapesKnowEveryDecoder: a type in a body that decodes itself (a new
// UnmarshalJSON in the store, say) must have its shape in newShapeBuilder;
// checked by its fields only, its other forms would be named as wrong.
func TestShapesKnowEveryDecoder(t *testing.T) {
	b := newShapeBuilder()
	for _, v := range []any{membersBody{}, resultIn{}, store.Campaign{}, store.Calendar{}} {
		b.shapeOf(reflect.TypeOf(v))
	}
	if len(b.guessed) > 0 {
		t.Fatalf("types that decode themselves without a shape in newShapeBuilder: %v", b.guessed)
	}
}
