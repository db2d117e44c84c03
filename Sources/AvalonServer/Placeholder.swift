import AvalonCore
