"""oimirror: shared code of scripts/make-mirror and scripts/mirror-server.

Standard library only (Python 3.11): these tools run on fresh machines with just python3.

    layout    the official relative paths of the Open Images V7 files FiftyOne's zoo
              downloads for label_types="classifications", split names and full sizes
    names     vocabularies: boxable class names, authors, titles, Flickr users
    generate  the mirror generator behind scripts/make-mirror
    server    the HTTP server behind scripts/mirror-server (ranges, faults, log)
"""
