module github.com/fsdialer/fsdialer

go 1.26.8
