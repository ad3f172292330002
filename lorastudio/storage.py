"""Storage backends whose URLs are short-lived signed links to our own media view.

Files are never public, whatever the backend: `file.url` gives a link that expires after
MEDIA_URL_TTL seconds, and the media view reads the file back through the same storage.
"""

from django.core.files.storage import FileSystemStorage
from storages.backends.s3 import S3Storage

from .media import signed_media_url


class PrivateFileSystemStorage(FileSystemStorage):
    def url(self, name):
        return signed_media_url(name)


class PrivateS3Storage(S3Storage):
    default_acl = "private"
    file_overwrite = False

    def url(self, name, parameters=None, expire=None, http_method=None):
        return signed_media_url(name, ttl=expire)
