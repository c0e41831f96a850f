from lrp_toolbox.render import *  # noqa: F403  (shim: `import render` from the repository root)
from lrp_toolbox.render import __all__  # noqa: F401
