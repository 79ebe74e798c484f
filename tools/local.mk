# placeholder: filled in by the commit that brings this folder.
