"""The reviewer web page: static HTML, CSS and JS modules served by review-api under /ui/."""
