package httpapi

// GoInternals matches Go's own words in an error text (type names, the
// store's inner struct names), which no answer may carry.
var GoInternals = goInternals

// Quoted matches a client's value quoted in a message.
var Quoted = quoted
