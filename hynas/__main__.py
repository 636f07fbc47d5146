"""`python -m hynas`: the same as the `hynas` command."""

from hynas.cli import main

if __name__ == "__main__":
    main()
