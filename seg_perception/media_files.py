"""File suffixes of the camera frames users hand the package: stills and videos OpenCV reads.

``predict`` takes them as sources, a recipe's ``distill.anchor_frames`` as unlabelled real frames.
"""

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
