"""The playground: a local web page that trains reglab models live, in the spirit of TensorFlow Playground.

``reglab playground`` serves :func:`create_app` with uvicorn on 127.0.0.1. The
page (plain HTML/CSS/JS in ``static/``, nothing fetched from the internet) picks a
data set, inputs, network and regularizer; Python trains through
:class:`reglab.train.Trainer` and streams every epoch (server-sent events). A
:class:`Setting` is the page's controls and URL; a :class:`SessionManager` holds
one :class:`Session` per tab (20 at most).

>>> Setting.from_query({"dataset": "xor", "regularization": "l2", "rate": "0.3"}).regularizer_entries()
[{'kind': 'l2', 'alpha': 0.3}]
"""

from reglab.playground._app import create_app
from reglab.playground._session import PlaygroundError, Session, SessionManager, SessionNotFound, TooManySessions
from reglab.playground._server import serve_in_thread
from reglab.playground._setting import CAPS, FEATURES, LIVE_FIELDS, REGULARIZATIONS, Setting

__all__ = ["create_app", "serve_in_thread", "Setting", "Session", "SessionManager", "PlaygroundError", "SessionNotFound",
           "TooManySessions", "CAPS", "FEATURES", "REGULARIZATIONS", "LIVE_FIELDS"]
