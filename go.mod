module github.com/fsdialer/fsdialer

go 1.26.8

require (
	github.com/percipia/eslgo v1.5.2 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
